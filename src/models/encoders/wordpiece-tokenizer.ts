// WordPiece tokenizer (Schuster & Nakajima 2012; BERT, Devlin et al. 2019) for the text encoder.
// It reproduces what CompVis' BERTEmbedder gets from HF BertTokenizerFast for bert-base-uncased
// (normaliser, pre-tokeniser, greedy longest-match WordPiece, truncation and max-length padding),
// so that a bert-base-uncased vocab.txt gives the original text-to-image checkpoint its ids, and
// it learns its own small vocabulary from captions (train) for models trained here.
import type { TextTokenizer, TokenizerJSON } from './tokenizer.js';

/** BERT's special tokens; a vocabulary is searched for them by name. */
export const SPECIAL_TOKENS = { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]', mask: '[MASK]' } as const;

/** Prefix of a piece that continues a word ("un", "##aff", "##able"). */
const CONTINUATION = '##';

export interface WordPieceSettings {
  /** Lower-case and strip accents, as bert-base-uncased; false keeps both (cased BERT). */
  lowercase: boolean;
  /** A word of more code points than this becomes one [UNK]. */
  maxInputCharsPerWord: number;
}

export const WORDPIECE_DEFAULTS: Readonly<WordPieceSettings> = { lowercase: true, maxInputCharsPerWord: 100 };

/** The saved form: the vocabulary in id order and the settings. */
export interface WordPieceJSON extends TokenizerJSON {
  type: 'wordpiece';
  lowercase: boolean;
  maxInputCharsPerWord: number;
  vocab: string[];
}

export interface WordPieceTrainOptions extends Partial<WordPieceSettings> {
  /** Upper bound on the vocabulary, special and character tokens included. */
  vocabSize: number;
  /** A pair seen fewer times than this is never merged. */
  minFrequency?: number;
}

// Characters as BERT's normaliser and pre-tokeniser classify them. \p{C} holds Cc, Cf, Cs, Co
// and Cn; tab, newline and carriage return count as whitespace, not control. \s only differs
// from Unicode White_Space in U+0085 and U+FEFF, both removed as control characters first.
const DROPPED = /\uFFFD|(?![\t\n\r])\p{C}/gu;
const WHITESPACE = /\s/gu;
// CJK ideographs become words of their own (BERT's tokenize_chinese_chars).
const CJK_IDEOGRAPH =
  /[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}]/u;
const CJK_IDEOGRAPHS = new RegExp(CJK_IDEOGRAPH.source, 'gu');
const NONSPACING_MARK = /\p{Mn}/gu;
// Punctuation: the ASCII symbol ranges (so "$", "+", "<", "^", "`", "|", "~" count) and Unicode's
// P* categories. Words split on runs of spaces, and each punctuation character is a word.
const PUNCTUATION = /[!-/:-@[-`{-~\p{P}]/u;
const WORD_BOUNDARY = new RegExp(`[ ]+|(${PUNCTUATION.source})`, 'u');

/** BERT's basic tokenizer (BertNormalizer + BertPreTokenizer): the words of a text. */
export function bertWords(text: string, lowercase: boolean): string[] {
  let normalized = text.replace(DROPPED, '').replace(WHITESPACE, ' ').replace(CJK_IDEOGRAPHS, ' $& ');
  if (lowercase) {
    // Accents first, then case, as the Rust normaliser does. It lowers each character alone, so a
    // final capital sigma becomes σ, not the ς that String.toLowerCase picks from context.
    normalized = normalized.normalize('NFD').replace(NONSPACING_MARK, '');
    normalized = normalized.includes('Σ')
      ? Array.from(normalized, (c) => c.toLowerCase()).join('')
      : normalized.toLowerCase();
  }
  return normalized.split(WORD_BOUNDARY).filter((word): word is string => word !== undefined && word !== '');
}

/** Whether a character is always a word alone (punctuation, CJK), so never continues one. */
function standsAlone(char: string): boolean {
  return PUNCTUATION.test(char) || CJK_IDEOGRAPH.test(char);
}

function checkInteger(value: unknown, min: number, what: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`${what} must be an integer >= ${min}, got ${String(value)}`);
  }
}

function checkSettings(settings: Partial<WordPieceSettings>, where: string): WordPieceSettings {
  const { lowercase, maxInputCharsPerWord } = { ...WORDPIECE_DEFAULTS, ...settings };
  if (typeof lowercase !== 'boolean') {
    throw new Error(`${where}: lowercase must be a boolean, got ${String(lowercase)}`);
  }
  checkInteger(maxInputCharsPerWord, 1, `${where}: maxInputCharsPerWord`);
  return { lowercase, maxInputCharsPerWord };
}

export class WordPieceTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly settings: Readonly<WordPieceSettings>;
  private readonly tokens: readonly string[];
  private readonly ids = new Map<string, number>();

  /**
   * A tokenizer over `tokens` (id = index). As HF reads vocab.txt, a token listed twice maps to
   * its last id. [PAD], [UNK], [CLS] and [SEP] must be present.
   */
  constructor(tokens: readonly string[], settings: Partial<WordPieceSettings> = {}) {
    this.settings = checkSettings(settings, 'WordPieceTokenizer');
    this.tokens = [...tokens];
    this.tokens.forEach((token, id) => this.ids.set(token, id));
    const special = (token: string): number => {
      const id = this.ids.get(token);
      if (id === undefined) {
        throw new Error(`WordPieceTokenizer: the vocabulary (${tokens.length} tokens) has no ${token}`);
      }
      return id;
    };
    this.vocabSize = this.tokens.length;
    this.padId = special(SPECIAL_TOKENS.pad);
    this.unkId = special(SPECIAL_TOKENS.unk);
    this.clsId = special(SPECIAL_TOKENS.cls);
    this.sepId = special(SPECIAL_TOKENS.sep);
  }

  /** Loads a BERT vocab.txt: one token per line, id = line number. */
  static fromVocab(text: string, settings: Partial<WordPieceSettings> = {}): WordPieceTokenizer {
    const lines = text.replace(/^\uFEFF/, '').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    // Trailing whitespace (a CRLF's \r) is trimmed, as the Rust tokenizers reader does.
    const tokens = lines.map((line) => line.trimEnd());
    return new WordPieceTokenizer(tokens, settings);
  }

  static fromJSON(json: unknown): WordPieceTokenizer {
    const where = 'WordPieceTokenizer.fromJSON';
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new Error(`${where}: expected an object, got ${Array.isArray(json) ? 'an array' : String(json)}`);
    }
    const record = json as Record<string, unknown>;
    if (record.type !== 'wordpiece') throw new Error(`${where}: type must be 'wordpiece', got ${String(record.type)}`);
    const known = new Set(['type', 'lowercase', 'maxInputCharsPerWord', 'vocab']);
    const unknown = Object.keys(record).filter((key) => !known.has(key));
    if (unknown.length > 0) throw new Error(`${where}: unknown keys ${unknown.join(', ')}`);
    const { vocab } = record;
    if (!Array.isArray(vocab)) throw new Error(`${where}: vocab must be an array of strings`);
    const bad = vocab.findIndex((token) => typeof token !== 'string');
    if (bad >= 0) throw new Error(`${where}: vocab[${bad}] is ${typeof vocab[bad]}, not a string`);
    const settings = { lowercase: record.lowercase, maxInputCharsPerWord: record.maxInputCharsPerWord };
    for (const [key, value] of Object.entries(settings)) {
      if (value === undefined) throw new Error(`${where}: missing ${key}`);
    }
    return new WordPieceTokenizer(vocab as string[], checkSettings(settings as Partial<WordPieceSettings>, where));
  }

  toJSON(): WordPieceJSON {
    const { lowercase, maxInputCharsPerWord } = this.settings;
    return { type: 'wordpiece', lowercase, maxInputCharsPerWord, vocab: [...this.tokens] };
  }

  /** The pieces of a text, without [CLS], [SEP] or padding. */
  tokenize(text: string): string[] {
    return this.pieceIds(text).map((id) => this.tokens[id]);
  }

  encode(text: string, maxLength: number): number[] {
    checkInteger(maxLength, 2, 'WordPieceTokenizer.encode: maxLength (room for [CLS] and [SEP])');
    // BertTokenizerFast (as CompVis calls it): truncation=True keeps maxLength - 2 pieces.
    const pieces = this.pieceIds(text).slice(0, maxLength - 2);
    const ids = [this.clsId, ...pieces, this.sepId];
    while (ids.length < maxLength) ids.push(this.padId);
    return ids;
  }

  /** Pieces joined by spaces, "##" continuations glued to their word, [PAD]/[CLS]/[SEP] dropped. */
  decode(ids: readonly number[]): string {
    const skipped = new Set([this.padId, this.clsId, this.sepId]);
    const pieces: string[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new Error(`WordPieceTokenizer.decode: id ${id} is not in [0, ${this.vocabSize})`);
      }
      if (!skipped.has(id)) pieces.push(this.tokens[id]);
    }
    return pieces.join(' ').replaceAll(` ${CONTINUATION}`, '').trim();
  }

  private pieceIds(text: string): number[] {
    const ids: number[] = [];
    for (const word of bertWords(text, this.settings.lowercase)) this.wordPieceIds(word, ids);
    return ids;
  }

  /** Greedy longest-match-first; a word with an unmatched rest is one [UNK] as a whole. */
  private wordPieceIds(word: string, out: number[]): void {
    // Code-unit offset of each code point, so pieces never split a surrogate pair.
    const offsets: number[] = [];
    for (let i = 0; i < word.length; i += word.codePointAt(i)! > 0xffff ? 2 : 1) offsets.push(i);
    const length = offsets.length;
    offsets.push(word.length);
    if (length > this.settings.maxInputCharsPerWord) {
      out.push(this.unkId);
      return;
    }
    const wordStart = out.length;
    for (let start = 0; start < length;) {
      let end = length;
      let id: number | undefined;
      for (; end > start; end--) {
        const piece = word.slice(offsets[start], offsets[end]);
        id = this.ids.get(start > 0 ? CONTINUATION + piece : piece);
        if (id !== undefined) break;
      }
      if (id === undefined) {
        out.length = wordStart;
        out.push(this.unkId);
        return;
      }
      out.push(id);
      start = end;
    }
  }

  /**
   * Learns a vocabulary from texts: the special tokens (ids 0-4), every character seen, in code
   * point order, then their "##" forms (all but punctuation and CJK, which are always words alone),
   * so that any word of seen characters encodes without [UNK]; then merges of adjacent pieces
   * until vocabSize.
   *
   * Merges go by pair frequency (BPE, Sennrich et al. 2016), as HF's WordPieceTrainer does, not
   * by the likelihood score count(ab) / (count(a) count(b)): that score ranks pairs of rare
   * pieces first (two characters seen once each score highest), so a small vocabulary would be
   * spent on rare words, while frequency turns the most frequent words into single tokens first.
   * Ties go to the pair of lower ids (earlier characters and merges), so the result depends on
   * the texts' word counts only, not on their order.
   */
  static train(texts: Iterable<string>, options: WordPieceTrainOptions): WordPieceTokenizer {
    const where = 'WordPieceTokenizer.train';
    const { vocabSize, minFrequency = 2, ...rest } = options;
    const settings = checkSettings(rest, where);
    checkInteger(vocabSize, 1, `${where}: vocabSize`);
    checkInteger(minFrequency, 1, `${where}: minFrequency`);

    const wordCounts = new Map<string, number>();
    for (const text of texts) {
      for (const word of bertWords(text, settings.lowercase)) wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
    }
    const words: string[][] = [];
    const counts: number[] = [];
    for (const [word, count] of wordCounts) {
      const chars = Array.from(word);
      // Longer words always encode as [UNK]: their pieces would never be used.
      if (chars.length > settings.maxInputCharsPerWord) continue;
      words.push(chars);
      counts.push(count);
    }

    const alphabet = [...new Set(words.flat())].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    const continuations = alphabet.filter((char) => !standsAlone(char)).map((char) => CONTINUATION + char);
    const tokens: string[] = [...Object.values(SPECIAL_TOKENS), ...alphabet, ...continuations];
    if (tokens.length > vocabSize) {
      throw new Error(
        `${where}: vocabSize ${vocabSize} is below the ${tokens.length} special and character tokens the texts need`,
      );
    }
    const ids = new Map(tokens.map((token, id) => [token, id]));
    const symbols = words.map((chars) => chars.map((c, i) => ids.get(i === 0 ? c : CONTINUATION + c)!));
    const merges = new PairCounts(symbols, counts);
    for (
      let pair = merges.best();
      pair && pair.count >= minFrequency && tokens.length < vocabSize;
      pair = merges.best()
    ) {
      // The right piece always continues a word: drop its "##" and keep the left piece's form.
      const token = tokens[pair.left] + tokens[pair.right].slice(CONTINUATION.length);
      let id = ids.get(token);
      // Different merges can spell the same piece ("##a"+"##bc", "##ab"+"##c"): reuse its id.
      if (id === undefined) {
        id = tokens.push(token) - 1;
        ids.set(token, id);
      }
      merges.merge(pair.left, pair.right, id);
    }
    return new WordPieceTokenizer(tokens, settings);
  }
}

/** A pair of adjacent symbol ids and how often it occurs in the corpus. */
interface Pair {
  left: number;
  right: number;
  count: number;
}

/** Pairs keyed by one number; ids stay far below the stride (vocabularies of millions). */
const PAIR_STRIDE = 0x200000;
const pairKey = (left: number, right: number): number => left * PAIR_STRIDE + right;
const pairOf = (key: number, count: number): Pair => ({
  left: Math.floor(key / PAIR_STRIDE),
  right: key % PAIR_STRIDE,
  count,
});

/** The merge order: higher count first, then lower left id, then lower right id. */
function ranksBefore(a: Pair, b: Pair): boolean {
  if (a.count !== b.count) return a.count > b.count;
  if (a.left !== b.left) return a.left < b.left;
  return a.right < b.right;
}

/**
 * The training corpus as symbol sequences (one per distinct word, with its count), the count of
 * every adjacent pair, and a max-heap of pairs. A merge only revisits the words holding the pair;
 * heap entries are not updated in place but checked against the live count when they surface.
 */
class PairCounts {
  private readonly counts = new Map<number, number>();
  private readonly wordsWith = new Map<number, Set<number>>();
  private readonly heap: Pair[] = [];

  constructor(
    private readonly words: number[][],
    private readonly wordCounts: number[],
  ) {
    words.forEach((symbols, word) => this.add(word, symbols, wordCounts[word]));
    for (const [key, count] of this.counts) this.push(pairOf(key, count));
  }

  /** The most frequent pair, or undefined when no pair is left. */
  best(): Pair | undefined {
    while (this.heap.length > 0) {
      const top = this.pop();
      const count = this.counts.get(pairKey(top.left, top.right)) ?? 0;
      if (count === top.count) return top;
      // Stale: its count fell since it was pushed; requeue it at its live count.
      if (count > 0) this.push({ ...top, count });
    }
    return undefined;
  }

  /** Replaces every (left, right) by `merged` in the words that hold it, updating pair counts. */
  merge(left: number, right: number, merged: number): void {
    const touched = new Set<number>();
    for (const word of this.wordsWith.get(pairKey(left, right)) ?? []) {
      const symbols = this.words[word];
      const next: number[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === left && symbols[i + 1] === right) {
          next.push(merged);
          i++;
        } else {
          next.push(symbols[i]);
        }
      }
      if (next.length === symbols.length) continue;
      this.add(word, symbols, -this.wordCounts[word]);
      this.add(word, next, this.wordCounts[word]);
      this.words[word] = next;
      for (let i = 0; i + 1 < next.length; i++) touched.add(pairKey(next[i], next[i + 1]));
    }
    for (const key of touched) {
      const count = this.counts.get(key)!;
      if (count > 0) this.push(pairOf(key, count));
    }
  }

  /** Adds `count` occurrences of each adjacent pair of `symbols` (negative to remove them). */
  private add(word: number, symbols: number[], count: number): void {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = pairKey(symbols[i], symbols[i + 1]);
      this.counts.set(key, (this.counts.get(key) ?? 0) + count);
      if (count > 0) {
        let holders = this.wordsWith.get(key);
        if (!holders) this.wordsWith.set(key, (holders = new Set()));
        holders.add(word);
      }
    }
  }

  private push(pair: Pair): void {
    const heap = this.heap;
    let i = heap.push(pair) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!ranksBefore(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private pop(): Pair {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let first = i;
        if (l < heap.length && ranksBefore(heap[l], heap[first])) first = l;
        if (r < heap.length && ranksBefore(heap[r], heap[first])) first = r;
        if (first === i) break;
        [heap[i], heap[first]] = [heap[first], heap[i]];
        i = first;
      }
    }
    return top;
  }
}
