// The datasets of a training run: the training split (random crops for folders, as LDM trains),
// the held-out test split for metrics (deterministic views), and the fixed images of the
// sample grids.
import type { Dataset } from '../data/dataset.js';
import { parseDataSpec } from '../data/spec.js';
import { Tensor } from '../tensor/tensor.js';

export interface TrainingData {
  /** The data spec or another name; stored in checkpoints. */
  name: string;
  train: Dataset;
  /** Held-out images, or null when the source has none. */
  test: Dataset | null;
  /** Why there is no test split, when there is none. */
  testUnavailable?: string;
}

/** The train and test splits of a data spec, as `size` x `size` images with `channels` channels. */
export function openTrainingData(spec: string, size: number, channels: number): TrainingData {
  if (channels !== 1 && channels !== 3) {
    throw new Error(`data ${spec}: the model takes ${channels}-channel images; datasets give 1 or 3 channels`);
  }
  const train = parseDataSpec(spec, { size, channels, split: 'train', crop: 'random' });
  try {
    return { name: spec, train, test: parseDataSpec(spec, { size, channels, split: 'test' }) };
  } catch (err) {
    // A small folder has no test split (every 10th image); training goes on without metrics.
    return { name: spec, train, test: null, testUnavailable: (err as Error).message };
  }
}

/** The first `count` images of the test split (or of the training split without one), [N, C, H, W]. */
export function fixedImages(data: TrainingData, count: number): Tensor {
  const [images] = datasetImages(data.test ?? data.train, count, count);
  return images;
}

/**
 * The first `count` images of a dataset (all when it has fewer), in order, as batches
 * [B, C, H, W] of up to `batchSize`: the dataset's deterministic views (centre crops).
 */
export function* datasetImages(dataset: Dataset, count: number, batchSize: number): IterableIterator<Tensor> {
  const total = Math.min(count, dataset.length);
  const { channels, size } = dataset;
  const imageSize = channels * size * size;
  for (let start = 0; start < total; start += batchSize) {
    const n = Math.min(batchSize, total - start);
    const data = new Float32Array(n * imageSize);
    for (let i = 0; i < n; i++) data.set(dataset.get(start + i).image, i * imageSize);
    yield new Tensor(data, [n, channels, size, size]);
  }
}
