// The download-free quality check of `ldm eval`: a small classifier trained on the labelled data
// (src/eval/) judges class-conditional samples. For each sampler setting it reports the share of
// samples classified as the class asked for, and the Frechet distance between the samples and
// real training images in the classifier's feature space (an FID with our own feature network).
// Held-out real images, as many as the samples, give the reference row: the distance that
// sampling noise alone leaves. Samples are drawn for the held-out images' labels, so that every
// row holds the same classes in the same proportions; held-out and reference images are spread
// evenly over their splits, which may be in class order (emoji).
import type { Dataset } from '../data/dataset.js';
import type { SamplerName } from '../diffusion/index.js';
import {
  balancedAccuracy,
  frechetDistance,
  imageFeatures,
  predictClasses,
  type ImageClassifier,
} from '../eval/index.js';
import type { LatentDiffusion } from '../models/ldm/latent-diffusion.js';
import { Tensor } from '../tensor/tensor.js';
import { generate } from './generate.js';

export interface SamplerSetting {
  sampler: SamplerName;
  steps: number;
}

export interface EvaluationOptions {
  /** Samples per class (default 50): classes x perClass held-out images and samples per row. */
  perClass?: number;
  guidance?: number;
  eta?: number;
  seed?: number;
  batchSize?: number;
  /** Real training images the distances are measured against (default 2000, spread over the split). */
  referenceCount?: number;
  /** Called when a row starts and ends. */
  onRow?: (event: { name: string; phase: 'start' | 'end'; row?: EvaluationRow }) => void;
  /** Called on every sampler step. */
  onStep?: (done: number, total: number) => void;
}

export interface EvaluationRow {
  /** e.g. "ddim 50" or "held-out real images". */
  name: string;
  images: number;
  /** Share classified as the class asked for (real images: as their label). */
  accuracy: number;
  /** The same with every class weighted alike (mean per-class recall). */
  balancedAccuracy: number;
  frechet: number;
  seconds: number;
}

/** Parses "ddim:50,plms:50,ddpm:1000" into sampler settings. */
export function parseSamplerSettings(text: string, known: readonly string[]): SamplerSetting[] {
  return text.split(',').map((item) => {
    const [sampler, stepsText] = item.trim().split(':');
    if (!known.includes(sampler)) throw new Error(`unknown sampler "${sampler}" in "${text}" (${known.join(', ')})`);
    const steps = Number(stepsText);
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`"${item}": give steps as sampler:steps, e.g. ddim:50`);
    return { sampler: sampler as SamplerName, steps };
  });
}

/** The table of `ldm eval`: the reference row of held-out images, then one row per sampler setting. */
export function evaluateClassConditional(
  ldm: LatentDiffusion,
  classifier: ImageClassifier,
  data: { train: Dataset; test: Dataset },
  settings: readonly SamplerSetting[],
  options: EvaluationOptions = {},
): EvaluationRow[] {
  const classes = ldm.numClasses;
  if (classes === null) throw new Error('evaluateClassConditional: the model is not class-conditional');
  const { perClass = 50, guidance = 1, eta = 0, seed = 0, batchSize = 50, referenceCount = 2000 } = options;
  const count = classes * perClass;
  const reference = referenceFeatures(classifier, data.train, referenceCount);
  const measure = (name: string, make: () => LabelledImages): EvaluationRow =>
    measureRow(classifier, reference, name, make, options.onRow);
  if (data.test.length < count) throw new Error(`the held-out split has ${data.test.length} images; ${count} needed`);
  const heldOut = spreadLabelledImages(data.test, count);
  const { labels } = heldOut;
  const rows = [measure('held-out real images', () => heldOut)];
  for (const setting of settings) {
    const total = Math.ceil(count / batchSize) * samplerSteps(ldm, setting);
    let done = 0;
    const { sampler, steps } = setting;
    const onStep = (): void => options.onStep?.(++done, total);
    rows.push(
      measure(settingName(ldm, setting), () => ({
        images: generate(ldm, { n: count, labels, sampler, steps, eta, guidance, seed, batchSize, onStep }),
        labels,
      })),
    );
  }
  return rows;
}

/** Images [N, C, H, W] with the label each should be classified as. */
export interface LabelledImages {
  images: Tensor;
  labels: number[];
}

/** The steps a setting runs: DDPM always takes all of the schedule's. */
export function samplerSteps(ldm: LatentDiffusion, { sampler, steps }: SamplerSetting): number {
  return sampler === 'ddpm' ? ldm.schedule.numTimesteps : steps;
}

/** A row's name, e.g. "ddim 50" or "ddpm 1000". */
export function settingName(ldm: LatentDiffusion, setting: SamplerSetting): string {
  return `${setting.sampler} ${samplerSteps(ldm, setting)}`;
}

/** Classifier features of `count` real training images spread over the split: what every row is measured against. */
export function referenceFeatures(classifier: ImageClassifier, train: Dataset, count: number): Tensor {
  return imageFeatures(classifier, spreadLabelledImages(train, Math.min(count, train.length), false).images);
}

/** One row: makes its images (timed with them), then their accuracy and Frechet distance to `reference`. */
export function measureRow(
  classifier: ImageClassifier,
  reference: Tensor,
  name: string,
  make: () => LabelledImages,
  onRow?: EvaluationOptions['onRow'],
): EvaluationRow {
  onRow?.({ name, phase: 'start' });
  const started = performance.now();
  const made = make();
  const predictions = predictClasses(classifier, made.images);
  const row: EvaluationRow = {
    name,
    images: made.images.shape[0],
    accuracy: predictions.filter((p, i) => p === made.labels[i]).length / predictions.length,
    balancedAccuracy: balancedAccuracy(predictions, made.labels),
    frechet: frechetDistance(imageFeatures(classifier, made.images), reference),
    seconds: (performance.now() - started) / 1000,
  };
  onRow?.({ name, phase: 'end', row });
  return row;
}

/** The k-th of `count` indices spread evenly over [0, length): splits may be in class order. */
export function spreadIndex(k: number, count: number, length: number): number {
  return Math.floor((k * length) / count);
}

/** `count` examples evenly spaced over a dataset, with their labels (required unless `needLabels` is false). */
function spreadLabelledImages(dataset: Dataset, count: number, needLabels = true): LabelledImages {
  const { channels, size } = dataset;
  const plane = channels * size * size;
  const values = new Float32Array(count * plane);
  const labels: number[] = [];
  for (let k = 0; k < count; k++) {
    const { image, label } = dataset.get(spreadIndex(k, count, dataset.length));
    if (label === undefined && needLabels) throw new Error(`${dataset.name} has no labels`);
    values.set(image, k * plane);
    labels.push(label ?? -1);
  }
  return { images: new Tensor(values, [count, channels, size, size]), labels };
}
