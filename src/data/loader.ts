// Batching, like torch.utils.data.DataLoader, but reproducible by construction: batch k of epoch e
// is a pure function of (dataset, options, seed, e, k). The epoch's order comes from a Generator
// seeded by (seed, epoch); each sample's randomness (a dataset's random crop, then the flip, then
// the caption choice) from a Generator seeded by (seed, epoch, position in the epoch). So a run
// resumes exactly from (epoch, batch) with no generator state to save, and one sample's draws
// never shift another's.
import { Tensor } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import type { Dataset } from './dataset.js';
import { horizontalFlip } from './transforms.js';

export type CaptionChoice = 'random' | 'first' | 'combine';

export interface DataLoaderOptions {
  batchSize: number;
  /** A new random order every epoch (default true); false keeps dataset order. */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Mirror each image horizontally with probability 0.5 (default false). */
  randomFlip?: boolean;
  /**
   * Caption candidates: pick one at random (default), always the first, or 'combine': one to three
   * distinct candidates in random order joined by ", " (several phrasings of short descriptions,
   * such as an emoji's name and keywords).
   */
  captionChoice?: CaptionChoice;
  seed?: number;
}

export interface Batch {
  /** [B, C, H, W] in [-1, 1]. */
  images: Tensor;
  /** Dataset indices of the samples, in batch order. */
  indices: number[];
  /** Present when the dataset's samples carry labels. */
  labels?: number[];
  /** Present when the dataset's samples carry captions: one per sample. */
  captions?: string[];
}

/** MurmurHash3's 32-bit finaliser: every input bit flips each output bit with probability ~1/2. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** One 32-bit seed from several integers (a seed may use up to 53 bits). */
function mixSeed(...words: number[]): number {
  let h = 0x6c646d21;
  for (const word of words) {
    h = fmix32(h ^ (word >>> 0));
    h = fmix32(h ^ Math.floor(word / 0x100000000));
  }
  return h;
}

export class DataLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly randomFlip: boolean;
  readonly captionChoice: CaptionChoice;
  readonly seed: number;
  /** The order of the epoch last asked for, so batch() need not reshuffle each call. */
  private lastOrder: { epoch: number; order: readonly number[] } | null = null;

  constructor(
    readonly dataset: Dataset,
    options: DataLoaderOptions,
  ) {
    const { batchSize, shuffle = true, dropLast = false, randomFlip = false } = options;
    const { captionChoice = 'random', seed = 0 } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new Error(`DataLoader: seed must be a non-negative integer, got ${seed}`);
    }
    if (dropLast && dataset.length < batchSize) {
      throw new Error(
        `DataLoader: ${dataset.name} has ${dataset.length} samples, fewer than batchSize ${batchSize} with dropLast: no batches`,
      );
    }
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.randomFlip = randomFlip;
    this.captionChoice = captionChoice;
    this.seed = seed;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The dataset indices of one epoch, in the order its batches take them. */
  order(epoch: number): number[] {
    return [...this.epochOrder(epoch)];
  }

  /** Batch `index` of `epoch`. */
  batch(epoch: number, index: number): Batch {
    checkCount(index, 'batch index');
    if (index >= this.length) throw new RangeError(`DataLoader: batch ${index} is out of range [0, ${this.length})`);
    const order = this.epochOrder(epoch);
    const positions = Array.from(
      { length: Math.min(this.batchSize, order.length - index * this.batchSize) },
      (_, i) => index * this.batchSize + i,
    );
    const { channels, size } = this.dataset;
    const imageSize = channels * size * size;
    const images = new Float32Array(positions.length * imageSize);
    const labels: number[] = [];
    const captions: string[] = [];
    positions.forEach((position, b) => {
      const generator = new Generator(mixSeed(this.seed, epoch, position + 1));
      const sample = this.dataset.get(order[position], generator);
      if (sample.image.length !== imageSize) {
        throw new Error(
          `DataLoader: ${this.dataset.name} item ${order[position]} has ${sample.image.length} values, expected [${channels}, ${size}, ${size}]`,
        );
      }
      const flip = this.randomFlip && generator.uniform() < 0.5;
      images.set(flip ? horizontalFlip(sample.image, channels, size, size) : sample.image, b * imageSize);
      if (sample.label !== undefined) labels.push(sample.label);
      if (sample.caption !== undefined) captions.push(this.pickCaption(sample.caption, generator));
    });
    const batch: Batch = {
      images: new Tensor(images, [positions.length, channels, size, size]),
      indices: positions.map((position) => order[position]),
    };
    if (labels.length > 0) batch.labels = checkAll(labels, positions.length, 'labels', this.dataset.name);
    if (captions.length > 0) batch.captions = checkAll(captions, positions.length, 'captions', this.dataset.name);
    return batch;
  }

  /** The batches of one epoch, from `startBatch` on (to resume mid-epoch). */
  *epoch(epoch: number, startBatch = 0): IterableIterator<Batch> {
    for (let index = startBatch; index < this.length; index++) yield this.batch(epoch, index);
  }

  /** Fisher-Yates with a generator seeded by (seed, epoch); dataset order without shuffle. */
  private epochOrder(epoch: number): readonly number[] {
    checkCount(epoch, 'epoch');
    if (this.lastOrder?.epoch === epoch) return this.lastOrder.order;
    const order = Array.from({ length: this.dataset.length }, (_, i) => i);
    if (this.shuffle) {
      const generator = new Generator(mixSeed(this.seed, epoch));
      for (let i = order.length - 1; i > 0; i--) {
        const j = generator.integer(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    this.lastOrder = { epoch, order };
    return order;
  }

  private pickCaption(caption: string | string[], generator: Generator): string {
    if (typeof caption === 'string') return caption;
    if (caption.length === 0) throw new Error(`DataLoader: ${this.dataset.name} gave an empty caption list`);
    if (this.captionChoice === 'first') return caption[0];
    if (this.captionChoice === 'random') return caption[generator.integer(caption.length)];
    const pool = [...caption];
    const parts: string[] = [];
    const count = Math.min(pool.length, 1 + generator.integer(3));
    for (let k = 0; k < count; k++) parts.push(pool.splice(generator.integer(pool.length), 1)[0]);
    return parts.join(', ');
  }
}

function checkCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`DataLoader: ${what} must be a non-negative integer, got ${value}`);
  }
}

function checkAll<T>(values: T[], count: number, what: string, name: string): T[] {
  if (values.length !== count) {
    throw new Error(`DataLoader: ${name} gave ${what} for ${values.length} of ${count} samples`);
  }
  return values;
}
