// Metrics on images through a trained ImageClassifier: predicted classes, accuracy against
// requested labels, features, and the Frechet distance between two sets of images' features.
// Everything runs in eval mode without autograd, in batches, so memory stays at one batch's
// activations however many images there are.
import { noGrad } from '../tensor/autograd.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { Dataset } from '../data/dataset.js';
import type { ImageClassifier } from './classifier.js';
import { frechetDistanceFromStatistics, gaussianStatistics, type GaussianStatistics } from './linalg.js';

/** Images per forward pass in the helpers below. */
export const EVAL_BATCH_SIZE = 256;

function checkBatchSize(batchSize: number, op: string): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`${op}: batchSize must be a positive integer, got ${batchSize}`);
  }
}

/** fn(batch) over slices of `images` [N, ...] along N, in eval mode and without autograd. */
function forEachBatch(
  classifier: ImageClassifier,
  images: Tensor,
  batchSize: number,
  op: string,
  fn: (batch: Tensor, start: number) => void,
): void {
  checkBatchSize(batchSize, op);
  if (images.rank !== 4) throw new Error(`${op}: expected images [N, C, H, W], got ${formatShape(images.shape)}`);
  const wasTraining = classifier.training;
  classifier.eval();
  try {
    noGrad(() => {
      for (let start = 0; start < images.shape[0]; start += batchSize) {
        fn(images.slice(0, start, Math.min(start + batchSize, images.shape[0])), start);
      }
    });
  } finally {
    classifier.train(wasTraining);
  }
}

/** Index of the largest logit of each row of logits [N, C]. */
export function argmaxRows(logits: Tensor): Int32Array {
  const [n, c] = logits.shape;
  const out = new Int32Array(n);
  for (let row = 0; row < n; row++) {
    let best = 0;
    for (let k = 1; k < c; k++) if (logits.data[row * c + k] > logits.data[row * c + best]) best = k;
    out[row] = best;
  }
  return out;
}

/** The predicted class of each image [N, C, H, W]. */
export function predictClasses(classifier: ImageClassifier, images: Tensor, batchSize = EVAL_BATCH_SIZE): Int32Array {
  const predictions = new Int32Array(images.shape[0] ?? 0);
  forEachBatch(classifier, images, batchSize, 'predictClasses', (batch, start) => {
    predictions.set(argmaxRows(classifier.forward(batch)), start);
  });
  return predictions;
}

/**
 * The share (0..1) of images [N, C, H, W] classified as their label. For class-conditional
 * samples, pass the requested classes: the result is how often the sample shows the class asked for.
 */
export function classifierAccuracy(
  classifier: ImageClassifier,
  images: Tensor,
  labels: ArrayLike<number>,
  batchSize = EVAL_BATCH_SIZE,
): number {
  if (images.rank < 1 || labels.length !== images.shape[0]) {
    throw new Error(`classifierAccuracy: ${labels.length} labels for images ${formatShape(images.shape)}`);
  }
  if (labels.length === 0) throw new Error('classifierAccuracy: no images');
  const predictions = predictClasses(classifier, images, batchSize);
  let correct = 0;
  for (let i = 0; i < predictions.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / predictions.length;
}

/**
 * Accuracy with every class weighted alike: the mean over the classes present in `labels` of the
 * share of their images predicted as that class (balanced accuracy). On a split where one class
 * dominates, plain accuracy mostly measures that class; this does not.
 */
export function balancedAccuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predictions.length !== labels.length || labels.length === 0) {
    throw new Error(`balancedAccuracy: ${predictions.length} predictions for ${labels.length} labels`);
  }
  const seen = new Map<number, { total: number; correct: number }>();
  for (let i = 0; i < labels.length; i++) {
    const count = seen.get(labels[i]) ?? { total: 0, correct: 0 };
    count.total += 1;
    if (predictions[i] === labels[i]) count.correct += 1;
    seen.set(labels[i], count);
  }
  let sum = 0;
  for (const { total, correct } of seen.values()) sum += correct / total;
  return sum / seen.size;
}

/** Features [N, featureDim] (float32) of images [N, C, H, W]: the classifier's penultimate activations. */
export function imageFeatures(classifier: ImageClassifier, images: Tensor, batchSize = EVAL_BATCH_SIZE): Tensor {
  const n = images.shape[0] ?? 0;
  const dim = classifier.options.featureDim;
  const out = new Float32Array(n * dim);
  forEachBatch(classifier, images, batchSize, 'imageFeatures', (batch, start) => {
    out.set(classifier.features(batch).data, start * dim);
  });
  return new Tensor(out, [n, dim]);
}

/** Mean and covariance (float64) of features [N, D], N >= 2: a set's summary for frechetDistance. */
export function featureStatistics(features: Tensor): GaussianStatistics {
  if (features.rank !== 2) {
    throw new Error(`featureStatistics: expected features [N, D], got ${formatShape(features.shape)}`);
  }
  return gaussianStatistics(features.data, features.shape[0], features.shape[1]);
}

/**
 * Frechet distance between Gaussians fitted to two feature sets [N, D] and [M, D] (each at least
 * two rows): |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64 (see linalg.ts). Like FID,
 * it is biased upwards for small N: compare values computed with the same numbers of images.
 */
export function frechetDistance(a: Tensor, b: Tensor): number {
  return frechetDistanceFromStatistics(featureStatistics(a), featureStatistics(b));
}

/**
 * `count` images of a dataset from index `start` (default: all of them), stacked [count, C, H, W],
 * with their labels when the samples carry them: real images for reference rows.
 */
export function datasetImages(
  dataset: Dataset,
  { start = 0, count = dataset.length - start }: { start?: number; count?: number } = {},
): { images: Tensor; labels?: number[] } {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0) {
    throw new Error(`datasetImages: start ${start} and count ${count} must be non-negative integers`);
  }
  if (start + count > dataset.length) {
    throw new Error(
      `datasetImages: ${dataset.name} has ${dataset.length} images, asked for [${start}, ${start + count})`,
    );
  }
  const { channels, size } = dataset;
  const imageSize = channels * size * size;
  const data = new Float32Array(count * imageSize);
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const sample = dataset.get(start + i);
    data.set(sample.image, i * imageSize);
    if (sample.label !== undefined) labels.push(sample.label);
  }
  const images = new Tensor(data, [count, channels, size, size]);
  return labels.length === count && count > 0 ? { images, labels } : { images };
}
