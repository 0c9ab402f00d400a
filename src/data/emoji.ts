// Emoji: the 3,786 64x64 Google Noto emoji PNGs of the npm package emoji-datasource-google
// (1,911 emoji plus their skin-tone variations), with names and categories from its emoji.json
// and keywords from the npm package emojilib.
// - Image: RGBA composited over white, RGB; resized from 64 to `size` ('auto' mode) when it differs.
// - Label: the category's index in categories.json order (emojiCategories(), 10 classes).
// - Caption candidates: the Unicode name in lower case with skin tones named as CLDR does ("waving
//   hand sign: medium skin tone"), the short names and emojilib keywords (underscores as spaces),
//   the skin tones, and the category, without duplicates.
// - Split: emoji in sort_order; every 10th base emoji (position % 10 === 9) and all its skin-tone
//   variations form the test split (3,415 train / 371 test), so no near-duplicate of a test
//   emoji is trained on.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { bytesToUnit, decodeImage } from '../io/image.js';
import type { RawImage } from '../io/png.js';
import { resizePlanes } from '../io/resize.js';
import { checkIndex, checkOptions, type Dataset, type DatasetOptions, type Sample, type Split } from './dataset.js';
import { convertChannels } from './transforms.js';
import { npmPackageDir } from './packages.js';

const NATIVE_SIZE = 64;

/** The fields of emoji.json read here. */
interface EmojiRecord {
  name: string;
  unified: string;
  non_qualified: string | null;
  image: string;
  short_names: string[];
  category: string;
  sort_order: number;
  skin_variations?: Record<string, { unified: string; image: string }>;
}

/** Unicode's names of the Fitzpatrick modifiers. */
const SKIN_TONES: Record<string, string> = {
  '1F3FB': 'light skin tone',
  '1F3FC': 'medium-light skin tone',
  '1F3FD': 'medium skin tone',
  '1F3FE': 'medium-dark skin tone',
  '1F3FF': 'dark skin tone',
};

function readJson<T>(path: string): T {
  return JSON.parse(fs.readFileSync(path, 'utf8')) as T;
}

/** '1F44B-1F3FD' -> the emoji string, emojilib's key. */
function codePointsToString(unified: string): string {
  return String.fromCodePoint(...unified.split('-').map((hex) => parseInt(hex, 16)));
}

/** "WAVING HAND SIGN" + tones -> "waving hand sign: medium skin tone" (", " when the name has a colon). */
function emojiName(name: string, tones: string[]): string {
  const base = name.toLowerCase();
  if (tones.length === 0) return base;
  return base + (base.includes(':') ? ', ' : ': ') + [...new Set(tones)].join(', ');
}

/** Underscores as spaces; empty strings and case-insensitive repeats dropped, first kept. */
function uniqueCaptions(candidates: string[]): string[] {
  const seen = new Set<string>();
  const captions: string[] = [];
  for (const candidate of candidates) {
    const text = candidate.replace(/_/g, ' ').trim();
    if (text.length === 0 || seen.has(text.toLowerCase())) continue;
    seen.add(text.toLowerCase());
    captions.push(text);
  }
  return captions;
}

/** The category names, in label order. */
export function emojiCategories(): readonly string[] {
  const path = join(npmPackageDir('emoji-datasource-google', 'emoji'), 'categories.json');
  return Object.keys(readJson<Record<string, unknown>>(path));
}

class EmojiDataset implements Dataset {
  readonly length: number;
  readonly channels: number;
  /** Decoded 64x64 RGB images, filled on first use. */
  private readonly decoded: (RawImage | undefined)[];

  constructor(
    readonly name: string,
    private readonly imageDir: string,
    private readonly entries: EmojiEntry[],
    readonly classNames: readonly string[],
    readonly size: number,
    channels: 1 | 3 | undefined,
  ) {
    this.length = entries.length;
    this.channels = channels ?? 3;
    this.decoded = new Array(entries.length);
  }

  get(index: number): Sample {
    checkIndex(this, index);
    const entry = this.entries[index];
    let raw = this.decoded[index];
    if (raw === undefined) {
      const path = join(this.imageDir, entry.image);
      raw = decodeImage(fs.readFileSync(path), { channels: 3 }, path);
      if (raw.width !== NATIVE_SIZE || raw.height !== NATIVE_SIZE) {
        throw new Error(`emoji: ${path} is ${raw.width}x${raw.height}, expected ${NATIVE_SIZE}x${NATIVE_SIZE}`);
      }
      this.decoded[index] = raw;
    }
    let image = bytesToUnit(raw.data);
    if (this.size !== NATIVE_SIZE) {
      const out = new Float32Array(3 * this.size * this.size);
      image = resizePlanes(image, 3, NATIVE_SIZE, NATIVE_SIZE, this.size, this.size, 'auto', out);
    }
    return { image: convertChannels(image, 3, this.channels), label: entry.label, caption: [...entry.captions] };
  }
}

/** One emoji image of the dataset, before decoding. */
export interface EmojiEntry {
  /** File name under emoji-datasource-google/img/google/64. */
  image: string;
  /** Index into emojiCategories(). */
  label: number;
  /** Caption candidates, the name first. */
  captions: string[];
}

/** The emoji of one split, in dataset order, without decoding any image. */
export function emojiEntries(split: Split = 'all'): EmojiEntry[] {
  const dataDir = npmPackageDir('emoji-datasource-google', 'emoji');
  const keywords = readJson<Record<string, string[]>>(
    join(npmPackageDir('emojilib', 'emoji'), 'dist', 'emoji-en-US.json'),
  );
  const categories = emojiCategories();
  const records = readJson<EmojiRecord[]>(join(dataDir, 'emoji.json')).sort((a, b) => a.sort_order - b.sort_order);
  const entries: EmojiEntry[] = [];
  records.forEach((record, position) => {
    const inTest = position % 10 === 9;
    if ((split === 'train' && inTest) || (split === 'test' && !inTest)) return;
    const label = categories.indexOf(record.category);
    if (label < 0) throw new Error(`emoji: ${record.name} has category '${record.category}', not in categories.json`);
    const words =
      keywords[codePointsToString(record.unified)] ??
      (record.non_qualified ? keywords[codePointsToString(record.non_qualified)] : undefined) ??
      [];
    const variations = Object.entries(record.skin_variations ?? {}).sort(([a], [b]) => a.localeCompare(b));
    for (const [toneKey, variation] of [['', record] as const, ...variations]) {
      const tones = toneKey === '' ? [] : toneKey.split('-').map((code) => SKIN_TONES[code] ?? code);
      const name = emojiName(record.name, tones);
      const captions = uniqueCaptions([name, ...record.short_names, ...words, ...tones, record.category]);
      entries.push({ image: variation.image, label, captions });
    }
  });
  return entries;
}

/** The emoji dataset (see the file comment); size defaults to 64. */
export function emoji(options: DatasetOptions = {}): Dataset {
  const { size, split, channels } = checkOptions(options, NATIVE_SIZE, 'emoji');
  const imageDir = join(npmPackageDir('emoji-datasource-google', 'emoji'), 'img', 'google', '64');
  return new EmojiDataset(`emoji/${split}`, imageDir, emojiEntries(split), emojiCategories(), size, channels);
}
