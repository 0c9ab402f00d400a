// The Dataset contract every data source meets, and the small pieces they share.
import type { Generator } from '../tensor/random.js';

/** Which part of a dataset: its training or test split, or both together. */
export type Split = 'train' | 'test' | 'all';

export const SPLITS: readonly Split[] = ['train', 'test', 'all'];

/** One example. */
export interface Sample {
  /** [channels, size, size] in [-1, 1]; a fresh array the caller owns. */
  image: Float32Array;
  /** Class index into Dataset.classNames. */
  label?: number;
  /** A caption, or several candidates to choose from (the DataLoader picks one per use). */
  caption?: string | string[];
}

export interface Dataset {
  /** e.g. 'mnist/train', 'folder:/data/cats/all'. */
  readonly name: string;
  readonly length: number;
  /** Channels of every image (1 or 3). */
  readonly channels: number;
  /** Height and width of every (square) image. */
  readonly size: number;
  /** Names of the label values, when samples carry labels. */
  readonly classNames?: readonly string[];
  /**
   * Example `index`. A dataset with random augmentation inside (a folder's random crop) draws it
   * from `generator`; without one, it returns its deterministic view (the centre crop).
   */
  get(index: number, generator?: Generator): Sample;
}

/** Options every built-in dataset takes. */
export interface DatasetOptions {
  /** Square output size in pixels (each dataset's doc says how it gets there). */
  size?: number;
  split?: Split;
  /** Output channels: a dataset's own by default; 1 takes the luma of RGB, 3 repeats gray. */
  channels?: 1 | 3;
}

export function checkIndex(dataset: Dataset, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= dataset.length) {
    throw new RangeError(`${dataset.name}: index ${index} is out of range [0, ${dataset.length})`);
  }
}

export function checkSplit(split: string, source: string): Split {
  if (!(SPLITS as readonly string[]).includes(split)) {
    throw new Error(`${source}: unknown split '${split}' (valid: ${SPLITS.join(', ')})`);
  }
  return split as Split;
}

export function checkOptions(options: DatasetOptions, defaultSize: number | undefined, source: string) {
  const size = options.size ?? defaultSize;
  if (size === undefined) throw new Error(`${source}: needs a size (the square image size in pixels)`);
  if (!Number.isInteger(size) || size < 1) throw new Error(`${source}: size must be a positive integer, got ${size}`);
  const { channels } = options;
  if (channels !== undefined && channels !== 1 && channels !== 3) {
    throw new Error(`${source}: channels must be 1 or 3, got ${channels}`);
  }
  return { size, split: checkSplit(options.split ?? 'train', source), channels };
}
