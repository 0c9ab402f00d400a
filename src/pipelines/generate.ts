// Generation with a latent diffusion model: draw latents with a sampler (guided when a scale is
// given), decode them with the first stage, and return images in [-1, 1].
import { sample, type SamplerName, type SamplerStep } from '../diffusion/index.js';
import type { LatentDiffusion, LdmConditioning } from '../models/ldm/latent-diffusion.js';
import { noGrad } from '../tensor/autograd.js';
import { concat } from '../tensor/ops/shape-ops.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

export interface GenerateOptions {
  /** Images to make (default 1). */
  n?: number;
  /** Class of each image, or one class for all (class-conditional models). */
  labels?: number | readonly number[];
  /** Prompt of each image, or one prompt for all (text-conditional models). */
  prompts?: string | readonly string[];
  /**
   * What guidance steers away from (text models): one negative prompt for all images, or one
   * per image; default the empty caption, as in plain classifier-free guidance.
   */
  negativePrompts?: string | readonly string[];
  sampler?: SamplerName;
  /** Sampler steps (default 50; DDPM always takes all of the schedule's). */
  steps?: number;
  /** DDIM's eta (default 0). */
  eta?: number;
  /** Classifier-free guidance scale; 1 (default) is unguided. */
  guidance?: number;
  seed?: number;
  /** Images sampled at once (default 16): bounds memory. */
  batchSize?: number;
  /** Called after every sampler step of every batch. */
  onStep?: (info: SamplerStep & { batch: number; batches: number }) => void;
}

export const DEFAULT_SAMPLER: SamplerName = 'ddim';
export const DEFAULT_STEPS = 50;

/** Images [n, C, H, W] in [-1, 1]. Deterministic for a given seed and batch size. */
export function generate(ldm: LatentDiffusion, options: GenerateOptions = {}): Tensor {
  const { n = 1, sampler = DEFAULT_SAMPLER, steps = DEFAULT_STEPS, eta = 0, guidance = 1, seed = 0 } = options;
  const { batchSize = 16, onStep } = options;
  if (!Number.isInteger(n) || n < 1) throw new Error(`generate: n must be a positive integer, got ${n}`);
  if (!(guidance >= 0)) throw new Error(`generate: guidance must be >= 0, got ${guidance}`);
  const labels = ldm.textEncoder === null ? labelList(ldm, options.labels, n) : null;
  const prompts = promptList(ldm, options, n);
  const negative =
    options.negativePrompts === undefined ? null : perImage(options.negativePrompts, n, 'negative prompts');
  const generator = new Generator(seed);
  const [c, h, w] = ldm.latentShape;
  const batches = Math.ceil(n / batchSize);
  const images: Tensor[] = [];
  noGrad(() => {
    for (let b = 0; b < batches; b++) {
      const start = b * batchSize;
      const count = Math.min(batchSize, n - start);
      let cond: LdmConditioning = {};
      let uncond: LdmConditioning | null = null;
      if (labels !== null) {
        cond = ldm.conditioning({ labels: labels.slice(start, start + count) });
        uncond = guidance === 1 ? null : ldm.unconditionalConditioning(count);
      } else if (prompts !== null) {
        cond = ldm.conditioning({ prompts: prompts.slice(start, start + count) });
        uncond = guidance === 1 ? null : ldm.unconditionalConditioning(count, negative?.slice(start, start + count));
      }
      const latents = sample(ldm.schedule, ldm.denoiser(cond, uncond, guidance), [count, c, h, w], {
        sampler,
        steps,
        eta,
        parameterization: ldm.parameterization,
        generator,
        callback: onStep === undefined ? undefined : (step) => onStep({ ...step, batch: b, batches }),
      });
      images.push(ldm.decodeFirstStage(latents).clamp(-1, 1));
    }
  });
  return images.length === 1 ? images[0] : concat(images, 0);
}

function perImage(given: string | readonly string[], n: number, what: string): string[] {
  const list = typeof given === 'string' ? new Array<string>(n).fill(given) : [...given];
  if (list.length !== n) throw new Error(`generate: ${list.length} ${what} for ${n} images`);
  return list;
}

function promptList(ldm: LatentDiffusion, options: GenerateOptions, n: number): string[] | null {
  if (ldm.textEncoder === null) {
    if (options.prompts !== undefined || options.negativePrompts !== undefined)
      throw new Error('generate: this model is not text-conditional; it takes no prompts');
    return null;
  }
  if (options.labels !== undefined)
    throw new Error('generate: this model is text-conditional; give prompts, not labels');
  // No prompt: the empty caption, i.e. the unconditional model that guidance training made.
  return perImage(options.prompts ?? '', n, 'prompts');
}

function labelList(ldm: LatentDiffusion, given: number | readonly number[] | undefined, n: number): number[] | null {
  const classes = ldm.numClasses;
  if (given === undefined) {
    if (classes !== null) throw new Error(`generate: this model is class-conditional; give labels (0..${classes - 1})`);
    return null;
  }
  if (classes === null) throw new Error('generate: this model is not class-conditional; it takes no labels');
  const list = typeof given === 'number' ? new Array<number>(n).fill(given) : [...given];
  if (list.length !== n) throw new Error(`generate: ${list.length} labels for ${n} images`);
  for (const label of list) {
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new Error(`generate: class ${label} is out of range; this model knows classes 0..${classes - 1}`);
    }
  }
  return list;
}

/** One row per class: `perClass` images of each of `classes` classes, as labels for generate. */
export function classGridLabels(classes: number, perClass: number): number[] {
  return Array.from({ length: classes * perClass }, (_, i) => Math.floor(i / perClass));
}
