// A folder of images (`folder:<path>`): every .png, .jpg and .jpeg under it, recursively (hidden
// files and folders skipped), in sorted path order.
// - Image: decoded to RGB (alpha over white) or luma, the shorter side resized to `size` ('auto':
//   area when shrinking, bilinear when growing) and rounded to 8 bits, as PIL-based pipelines do;
//   then a size x size crop: the centre, or with crop 'random' a position drawn from the generator
//   get() receives (LDM's random crop for training).
// - Caption: `photo.txt` beside `photo.jpg`, if present; one line is the caption, several lines
//   are candidates (the DataLoader picks one per use).
// - Label: when every image sits in a first-level subfolder (`root/<class>/...`, torchvision's
//   ImageFolder layout), the subfolder is its class; classNames are the subfolders in sorted order.
// - Split: every 10th image (position % 10 === 9) is the test split, the rest train; 'all' is every image.
// Decoded, resized images are kept in memory (8-bit) after first use unless cache is false.
import * as fs from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { bytesToUnit, decodeImage } from '../io/image.js';
import { centerOffset, cropPlanes, resizePlanes, shorterSideSize } from '../io/resize.js';
import type { RawImage } from '../io/png.js';
import type { Generator } from '../tensor/random.js';
import { checkIndex, checkOptions, type Dataset, type DatasetOptions, type Sample } from './dataset.js';

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

export interface FolderOptions extends DatasetOptions {
  /** 'center' (default), or 'random': a random window when get() is given a generator. */
  crop?: 'center' | 'random';
  /** Keep decoded, resized images in memory (default true). */
  cache?: boolean;
}

interface FolderEntry {
  path: string;
  caption?: string | string[];
  label?: number;
}

/** Image files under `dir`, recursively, skipping names that start with '.'. */
function listImages(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listImages(path));
    else if (IMAGE_EXTENSIONS.includes(extname(entry.name).toLowerCase()) && fs.statSync(path).isFile()) {
      found.push(path);
    }
  }
  return found;
}

/** The caption file's non-empty lines: one line as a string, several as candidates. */
function readCaption(imagePath: string): string | string[] | undefined {
  const captionPath = imagePath.slice(0, imagePath.length - extname(imagePath).length) + '.txt';
  if (!fs.existsSync(captionPath)) return undefined;
  const lines = fs
    .readFileSync(captionPath, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (lines.length === 0) return undefined;
  return lines.length === 1 ? lines[0] : lines;
}

class ImageFolderDataset implements Dataset {
  readonly length: number;
  classNames?: readonly string[];
  private readonly resized: (RawImage | undefined)[];

  constructor(
    readonly name: string,
    private readonly entries: FolderEntry[],
    readonly size: number,
    readonly channels: 1 | 3,
    private readonly randomCrop: boolean,
    private readonly cache: boolean,
  ) {
    this.length = entries.length;
    this.resized = new Array(entries.length);
  }

  /** The image with its shorter side at `size`, 8-bit. */
  private load(index: number): RawImage {
    const cached = this.resized[index];
    if (cached) return cached;
    const { path } = this.entries[index];
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(path);
    } catch (error) {
      throw new Error(`${this.name}: cannot read ${path}: ${(error as Error).message}`);
    }
    const raw = decodeImage(bytes, { channels: this.channels }, path);
    const [height, width] = shorterSideSize(raw.height, raw.width, this.size);
    const data = new Uint8ClampedArray(this.channels * height * width);
    resizePlanes(raw.data, this.channels, raw.height, raw.width, height, width, 'auto', data);
    const image = { channels: this.channels, height, width, data: new Uint8Array(data.buffer) };
    if (this.cache) this.resized[index] = image;
    return image;
  }

  get(index: number, generator?: Generator): Sample {
    checkIndex(this, index);
    const { channels, height, width, data } = this.load(index);
    const random = this.randomCrop && generator !== undefined;
    const top = random ? generator.integer(height - this.size + 1) : centerOffset(height, this.size);
    const left = random ? generator.integer(width - this.size + 1) : centerOffset(width, this.size);
    const window = cropPlanes(data, channels, height, width, top, left, this.size, this.size);
    const sample: Sample = { image: bytesToUnit(window) };
    const { caption } = this.entries[index];
    if (caption !== undefined) sample.caption = Array.isArray(caption) ? [...caption] : caption;
    const { label } = this.entries[index];
    if (label !== undefined) sample.label = label;
    return sample;
  }
}

/** Every image under `root` as a Dataset (see the file comment); `size` is required. */
export function imageFolder(root: string, options: FolderOptions = {}): Dataset {
  const source = `folder:${root}`;
  const { size, split, channels } = checkOptions(options, undefined, source);
  const { crop = 'center', cache = true } = options;
  if (crop !== 'center' && crop !== 'random') {
    throw new Error(`${source}: crop must be 'center' or 'random', got '${crop}'`);
  }
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`${source}: ${root} is not a folder`);
  const paths = listImages(root).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (paths.length === 0) {
    throw new Error(`${source}: no images (${IMAGE_EXTENSIONS.join(', ')}) under ${root}`);
  }
  const chosen = paths.filter((_, i) => split === 'all' || (i % 10 === 9) === (split === 'test'));
  if (chosen.length === 0) {
    throw new Error(
      `${source}: the ${split} split is empty (${paths.length} images; the test split holds every 10th ` +
        `in path order); use split 'all' or 'train'`,
    );
  }
  const classNames = classFolders(root, paths);
  const entries = chosen.map((path) => {
    const entry: FolderEntry = { path, caption: readCaption(path) };
    if (classNames !== null) entry.label = classNames.indexOf(relative(root, path).split(sep)[0]);
    return entry;
  });
  const name = `${source}/${split}`;
  const dataset = new ImageFolderDataset(name, entries, size, channels ?? 3, crop === 'random', cache);
  if (classNames !== null) dataset.classNames = classNames;
  return dataset;
}

/** The class subfolders when every image lies inside one (sorted), else null. */
function classFolders(root: string, paths: readonly string[]): string[] | null {
  const names = new Set<string>();
  for (const path of paths) {
    const parts = relative(root, path).split(sep);
    if (parts.length < 2) return null;
    names.add(parts[0]);
  }
  return [...names].sort();
}
