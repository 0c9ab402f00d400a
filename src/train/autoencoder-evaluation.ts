// Judging a first-stage model on held-out images: deterministic reconstructions (the KL
// posterior's mean; the VQ model's quantised latent), their PSNR and SSIM, and the
// inputs-above-outputs grid a run saves as it trains.
import type { Dataset } from '../data/dataset.js';
import { imageGrid } from '../io/image.js';
import type { FirstStageModel } from '../models/autoencoder/first-stage.js';
import { noGrad } from '../tensor/autograd.js';
import { concat } from '../tensor/ops/shape-ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { psnr, ssim, SSIM_WINDOW_SIZE } from './metrics.js';
import { datasetImages } from './training-data.js';

export interface ReconstructionMetrics {
  /** Mean PSNR over the images, in dB. */
  psnr: number;
  /** Mean SSIM, or null for images smaller than SSIM's 11 x 11 window. */
  ssim: number | null;
  /** Images evaluated. */
  count: number;
}

/** The model's reconstruction of images [N, C, H, W] in [-1, 1], in eval mode and without a graph. */
export function reconstructImages(model: FirstStageModel, images: Tensor): Tensor {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => model.decodeLatent(model.encodeLatent(images)));
  } finally {
    model.train(wasTraining);
  }
}

/** PSNR and SSIM of the model's reconstructions of the first `count` images of `dataset`. */
export function evaluateReconstructions(
  model: FirstStageModel,
  dataset: Dataset,
  { count, batchSize }: { count: number; batchSize: number },
): ReconstructionMetrics {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`evaluateReconstructions: count must be >= 1, got ${count}`);
  const withSsim = dataset.size >= SSIM_WINDOW_SIZE;
  const psnrs: number[] = [];
  const ssims: number[] = [];
  for (const images of datasetImages(dataset, count, batchSize)) {
    const reconstructions = reconstructImages(model, images);
    psnrs.push(...psnr(images, reconstructions).perImage);
    if (withSsim) ssims.push(...ssim(images, reconstructions).perImage);
  }
  const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
  return { psnr: mean(psnrs), ssim: withSsim ? mean(ssims) : null, count: psnrs.length };
}

/** Inputs [N, C, H, W] in the top row and their reconstructions below, as one image [C, H', W']. */
export function reconstructionGrid(inputs: Tensor, reconstructions: Tensor): Tensor {
  return imageGrid(concat([inputs, reconstructions.clamp(-1, 1)], 0), { nrow: inputs.shape[0] });
}
