// The download-free held-out measure of a text-to-image model (`ldm eval` on a text model). Each
// held-out example gives a prompt (its first caption: for emoji, the emoji's name) and a label
// (its category); a sample passes when the classifier of src/eval/ assigns it that label. With it,
// the Frechet distance to real training images in the classifier's feature space, as for
// class-conditional models. Rows:
//   held-out real images   the test images themselves: the accuracy and distance of the real thing
//   <sampler> <steps>      samples from the test prompts, one row per sampler setting
//   empty prompt (...)     unconditional samples (prompt '') scored against the same labels: what
//                          the images would score without reading the text
import type { Dataset } from '../data/dataset.js';
import type { ImageClassifier } from '../eval/index.js';
import type { LatentDiffusion } from '../models/ldm/latent-diffusion.js';
import { Tensor } from '../tensor/tensor.js';
import {
  measureRow,
  referenceFeatures,
  samplerSteps,
  spreadIndex,
  settingName,
  type EvaluationOptions,
  type EvaluationRow,
  type LabelledImages,
  type SamplerSetting,
} from './evaluate.js';
import { generate } from './generate.js';

export const REAL_ROW = 'held-out real images';

export interface TextEvaluationOptions extends Omit<EvaluationOptions, 'perClass'> {
  /** Samples per held-out prompt (default 1). */
  perPrompt?: number;
  /** Held-out examples used (default all), spread evenly over the split. */
  limit?: number;
}

/** A held-out example as the evaluation uses it. */
export interface HeldOutPrompt {
  /** Index in the test split. */
  index: number;
  prompt: string;
  label: number;
}

/**
 * `limit` held-out examples (default all), evenly spaced over the split: test splits are in
 * dataset order (emoji by category), so a prefix would cover a few categories only. Reads each
 * chosen example once and returns its image with its first caption and label.
 */
export function heldOutPrompts(test: Dataset, limit = test.length): { prompts: HeldOutPrompt[]; images: Tensor } {
  if (!Number.isInteger(limit) || limit < 1 || limit > test.length) {
    throw new Error(`heldOutPrompts: limit must be an integer in 1..${test.length} (${test.name}), got ${limit}`);
  }
  const { channels, size } = test;
  const plane = channels * size * size;
  const values = new Float32Array(limit * plane);
  const prompts: HeldOutPrompt[] = [];
  for (let k = 0; k < limit; k++) {
    const index = spreadIndex(k, limit, test.length);
    const { image, label, caption } = test.get(index);
    if (label === undefined) throw new Error(`${test.name} has no labels: the classifier needs them`);
    const first = Array.isArray(caption) ? caption[0] : caption;
    if (first === undefined) {
      throw new Error(`${test.name} has no captions (example ${index}): a text model is judged on held-out captions`);
    }
    values.set(image, k * plane);
    prompts.push({ index, prompt: first, label });
  }
  return { prompts, images: new Tensor(values, [limit, channels, size, size]) };
}

/**
 * The table of `ldm eval` for a text-to-image model: the reference row of held-out real images,
 * one row per sampler setting with the held-out prompts, and the empty-prompt control row.
 */
export function evaluateTextConditional(
  ldm: LatentDiffusion,
  classifier: ImageClassifier,
  data: { train: Dataset; test: Dataset },
  settings: readonly SamplerSetting[],
  options: TextEvaluationOptions = {},
): EvaluationRow[] {
  const encoder = ldm.textEncoder;
  if (encoder === null) throw new Error('evaluateTextConditional: the model is not text-conditional');
  if (encoder.tokenizer === null) throw new Error('evaluateTextConditional: the model carries no tokenizer');
  if (settings.length === 0) throw new Error('evaluateTextConditional: give at least one sampler setting');
  const { perPrompt = 1, guidance = 1, eta = 0, seed = 0, batchSize = 50, referenceCount = 2000 } = options;
  if (!Number.isInteger(perPrompt) || perPrompt < 1) {
    throw new Error(`evaluateTextConditional: perPrompt must be a positive integer, got ${perPrompt}`);
  }
  const held = heldOutPrompts(data.test, options.limit);
  // A Frechet distance fits a covariance: every row needs at least two images.
  if (held.prompts.length < 2) {
    throw new Error(`evaluateTextConditional: ${held.prompts.length} held-out example; the Frechet distance needs 2`);
  }
  const count = held.prompts.length * perPrompt;
  // perPrompt samples of each prompt, side by side.
  const prompts = held.prompts.flatMap(({ prompt }) => new Array<string>(perPrompt).fill(prompt));
  const labels = held.prompts.flatMap(({ label }) => new Array<number>(perPrompt).fill(label));
  const reference = referenceFeatures(classifier, data.train, referenceCount);
  const measure = (name: string, make: () => LabelledImages): EvaluationRow =>
    measureRow(classifier, reference, name, make, options.onRow);
  const sampleRow = (name: string, setting: SamplerSetting, rowPrompts: string[], rowGuidance: number) => {
    const total = Math.ceil(count / batchSize) * samplerSteps(ldm, setting);
    let done = 0;
    const onStep = (): void => options.onStep?.(++done, total);
    const { sampler, steps } = setting;
    return measure(name, () => ({
      images: generate(ldm, {
        n: count,
        prompts: rowPrompts,
        sampler,
        steps,
        eta,
        guidance: rowGuidance,
        seed,
        batchSize,
        onStep,
      }),
      labels,
    }));
  };
  const rows = [measure(REAL_ROW, () => ({ images: held.images, labels: held.prompts.map(({ label }) => label) }))];
  for (const setting of settings) rows.push(sampleRow(settingName(ldm, setting), setting, prompts, guidance));
  // Guidance contrasts the prompt with the empty caption, so with prompt '' every scale gives the
  // unguided prediction: sample at scale 1 (half the U-Net work), same seed, so the same noise.
  const control = `empty prompt (${settingName(ldm, settings[0])})`;
  rows.push(sampleRow(control, settings[0], new Array<string>(count).fill(''), 1));
  return rows;
}
