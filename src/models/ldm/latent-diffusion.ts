// The latent diffusion model (Rombach et al. 2022, Sec. 3.2-3.3): a frozen first-stage
// autoencoder, an optional conditioning encoder and a time-conditional U-Net that denoises
// scale_factor * z. Submodule names are the CompVis ones, so that a checkpoint's
// `model.diffusion_model.*`, `first_stage_model.*` and `cond_stage_model.*` keys load as they are.
import type { AutoencoderKL } from '../autoencoder/autoencoder-kl.js';
import type { IdentityFirstStage } from '../autoencoder/identity-first-stage.js';
import type { VQModel } from '../autoencoder/vq-model.js';
import { Module } from '../../nn/module.js';
import { noGrad } from '../../tensor/autograd.js';
import { concat } from '../../tensor/ops/shape-ops.js';
import type { Generator } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { DiffusionSchedule, guidedDenoiser, type DenoiseFn, type Parameterization } from '../../diffusion/index.js';
import { BERTEmbedder } from '../encoders/bert-embedder.js';
import { ClassEmbedder } from '../encoders/class-embedder.js';
import { SpatialRescaler } from '../encoders/spatial-rescaler.js';
import { UNetModel, unetConfigFromParams } from '../unet/index.js';
import type { ConditioningKey, LdmConfig } from './config.js';

/** What the U-Net is conditioned on, already encoded. */
export interface LdmConditioning {
  /** Cross-attention context [N, L, context_dim]. */
  context?: Tensor;
  /** Image-shaped condition concatenated to the input [N, C, h, w]. */
  concat?: Tensor;
  /** Class labels for an ADM-style `num_classes` U-Net [N]. */
  y?: Tensor;
}

/** The raw condition a user gives: class labels, prompts, or a condition image for concat models. */
export type LdmConditionInput = { labels: ArrayLike<number> } | { prompts: readonly string[] } | { image: Tensor };

/** CompVis DiffusionWrapper: routes the condition to the U-Net by conditioning_key. */
export class DiffusionWrapper extends Module {
  readonly diffusionModel: UNetModel;

  constructor(
    unet: UNetModel,
    readonly conditioningKey: ConditioningKey,
  ) {
    super();
    this.diffusionModel = this.registerModule('diffusion_model', unet);
  }

  forward(x: Tensor, t: Tensor, cond: LdmConditioning = {}): Tensor {
    const need = (value: Tensor | undefined, what: string): Tensor => {
      if (value === undefined)
        throw new Error(`LatentDiffusion: conditioning_key ${this.conditioningKey} needs ${what}`);
      return value;
    };
    switch (this.conditioningKey) {
      case null:
        return this.diffusionModel.forward(x, t);
      case 'concat':
        return this.diffusionModel.forward(concat([x, need(cond.concat, 'a concat condition')], 1), t);
      case 'crossattn':
        return this.diffusionModel.forward(x, t, { context: need(cond.context, 'a context') });
      case 'hybrid':
        return this.diffusionModel.forward(concat([x, need(cond.concat, 'a concat condition')], 1), t, {
          context: need(cond.context, 'a context'),
        });
      case 'adm':
        return this.diffusionModel.forward(x, t, { y: need(cond.y, 'class labels') });
    }
  }
}

export type FirstStage = AutoencoderKL | VQModel | IdentityFirstStage;

export class LatentDiffusion extends Module {
  readonly model: DiffusionWrapper;
  readonly firstStageModel: FirstStage;
  readonly condStageModel: ClassEmbedder | SpatialRescaler | BERTEmbedder | null;
  readonly schedule: DiffusionSchedule;
  readonly parameterization: Parameterization;
  /** The U-Net sees scaleFactor * z (CompVis `scale_factor`; set from the data by `scale_by_std`). */
  scaleFactor: number;
  /** Latent shape [C, h, w] the U-Net denoises. */
  readonly latentShape: [number, number, number];

  constructor(
    readonly config: LdmConfig,
    firstStage: FirstStage,
    generator?: Generator,
  ) {
    super();
    const { params } = config;
    const unetConfig = unetConfigFromParams(config.unet.params, 'unet_config.params');
    this.model = this.registerModule(
      'model',
      new DiffusionWrapper(new UNetModel(unetConfig, generator), config.conditioningKey),
    );
    this.firstStageModel = this.registerModule('first_stage_model', firstStage);
    this.firstStageModel.eval().requiresGrad_(false);
    this.condStageModel = null;
    const cond = config.condStage;
    if (cond.kind === 'class') {
      this.condStageModel = this.registerModule('cond_stage_model', new ClassEmbedder(cond.params, generator));
    } else if (cond.kind === 'text') {
      this.condStageModel = this.registerModule('cond_stage_model', new BERTEmbedder(cond.params, generator));
    } else if (cond.kind === 'spatial-rescaler') {
      this.condStageModel = this.registerModule('cond_stage_model', new SpatialRescaler(cond.params, generator));
    }
    if (this.condStageModel !== null && !params.cond_stage_trainable) this.condStageModel.requiresGrad_(false);
    this.schedule = DiffusionSchedule.create({
      schedule: params.beta_schedule as 'linear',
      timesteps: params.timesteps,
      linearStart: params.linear_start,
      linearEnd: params.linear_end,
      cosineS: params.cosine_s,
    });
    this.parameterization = params.parameterization as Parameterization;
    this.scaleFactor = params.scale_factor;
    const size = params.image_size;
    this.latentShape = [params.channels, size, size];
    const f = firstStage.downsamplingFactor;
    const ddconfig = firstStage.options.ddconfig;
    if (firstStage.latentChannels !== params.channels || ddconfig.resolution / f !== size) {
      throw new Error(
        `LatentDiffusion: channels ${params.channels} and image_size ${size} must be the first stage's latent ` +
          `(${firstStage.latentChannels} x ${ddconfig.resolution / f} x ${ddconfig.resolution / f} for ${ddconfig.resolution} px images)`,
      );
    }
  }

  /** Classes a user may ask for (the null class of guidance excluded), or null for a model without classes. */
  get numClasses(): number | null {
    const cond = this.condStageModel;
    if (cond instanceof ClassEmbedder)
      return this.nullClass === null ? cond.params.n_classes : cond.params.n_classes - 1;
    if (this.config.conditioningKey === 'adm') return this.model.diffusionModel.config.num_classes;
    return null;
  }

  /**
   * The label that stands for "no class" in classifier-free guidance: the last class of a
   * ClassEmbedder trained with condition dropout (`ucg_rate` > 0, as in the later CompVis code).
   */
  get nullClass(): number | null {
    const cond = this.condStageModel;
    return cond instanceof ClassEmbedder && cond.params.ucg_rate > 0 ? cond.nullClass : null;
  }

  /** The text encoder of a text-conditional model, else null. */
  get textEncoder(): BERTEmbedder | null {
    return this.condStageModel instanceof BERTEmbedder ? this.condStageModel : null;
  }

  /**
   * Whether classifier-free guidance applies: a class model with a null class, or a text model
   * (the empty caption is its unconditional input, as in the original txt2img sampling).
   */
  get supportsGuidance(): boolean {
    return this.nullClass !== null || this.textEncoder !== null;
  }

  /** The first stage stays in eval mode whatever the rest does (CompVis disables its train()). */
  override train(mode = true): this {
    super.train(mode);
    this.firstStageModel.eval();
    return this;
  }

  /** Probability with which training replaces a class by the null class, or a caption by '' (ucg_rate). */
  get conditionDropout(): number {
    const text = this.textEncoder;
    if (text !== null) return text.params.ucg_rate;
    return this.nullClass === null ? 0 : (this.condStageModel as ClassEmbedder).params.ucg_rate;
  }

  /** Image side the first stage decodes to. */
  get imageSize(): number {
    return this.latentShape[1] * this.firstStageModel.downsamplingFactor;
  }

  get imageChannels(): number {
    return this.firstStageModel.options.ddconfig.out_ch;
  }

  /** Images [N, C, H, W] in [-1, 1] -> scaled latents; KL: a posterior sample with a generator, else the mean. */
  encodeFirstStage(images: Tensor, generator?: Generator): Tensor {
    return noGrad(() => this.firstStageModel.encodeLatent(images, generator).mul(this.scaleFactor));
  }

  /** Scaled latents -> images in [-1, 1] (not clamped). */
  decodeFirstStage(z: Tensor): Tensor {
    return noGrad(() => this.firstStageModel.decodeLatent(z.mul(1 / this.scaleFactor)));
  }

  /** Encodes the user's condition for the U-Net (with gradients into a trainable encoder). */
  conditioning(input: LdmConditionInput): LdmConditioning {
    const cond = this.condStageModel;
    if ('prompts' in input) {
      if (!(cond instanceof BERTEmbedder)) throw new Error('LatentDiffusion: this model is not text-conditional');
      return { context: cond.forward([...input.prompts]) };
    }
    if ('labels' in input) {
      if (!(cond instanceof ClassEmbedder)) {
        if (this.config.conditioningKey === 'adm')
          return { y: Tensor.from(Array.from(input.labels), [input.labels.length]) };
        throw new Error('LatentDiffusion: this model is not class-conditional');
      }
      return { context: cond.forward(Tensor.from(Array.from(input.labels), [input.labels.length])) };
    }
    if (this.config.condStage.kind === 'first-stage') return { concat: this.encodeFirstStage(input.image) };
    if (!(cond instanceof SpatialRescaler)) throw new Error('LatentDiffusion: this model takes no condition image');
    const encoded = cond.forward(input.image);
    return this.config.conditioningKey === 'crossattn'
      ? { context: encoded.reshape([encoded.shape[0], encoded.shape[1], -1]).permute([0, 2, 1]) }
      : { concat: encoded };
  }

  /**
   * The condition a guided sampler contrasts with: the null class of a class-conditional model;
   * for a text model the empty caption, or the negative prompts when given.
   */
  unconditionalConditioning(n: number, negativePrompts?: readonly string[]): LdmConditioning | null {
    if (this.textEncoder !== null)
      return this.conditioning({ prompts: negativePrompts ?? new Array<string>(n).fill('') });
    if (negativePrompts !== undefined)
      throw new Error('LatentDiffusion: negative prompts need a text-conditional model');
    const nullClass = this.nullClass;
    if (nullClass === null) return null;
    return this.conditioning({ labels: new Array<number>(n).fill(nullClass) });
  }

  /** The U-Net's output for x_t at per-sample timesteps t [N]. */
  applyModel(x: Tensor, t: Tensor, cond: LdmConditioning = {}): Tensor {
    return this.model.forward(x, t, cond);
  }

  /** The network as samplers see it, with classifier-free guidance when scale != 1. */
  denoiser(cond: LdmConditioning, uncond: LdmConditioning | null, guidanceScale: number): DenoiseFn {
    const call = (x: Tensor, t: number, c: LdmConditioning): Tensor =>
      this.applyModel(x, Tensor.full([x.shape[0]], t), c);
    if (uncond === null || guidanceScale === 1) return (x, t) => call(x, t, cond);
    return guidedDenoiser(call, cond, uncond, guidanceScale, concatConditioning);
  }
}

/** Two conditionings as one batch: a's samples first. */
export function concatConditioning(a: LdmConditioning, b: LdmConditioning): LdmConditioning {
  const out: LdmConditioning = {};
  for (const key of ['context', 'concat', 'y'] as const) {
    const x = a[key];
    const y = b[key];
    if (x !== undefined && y !== undefined) out[key] = concat([x, y], 0);
  }
  return out;
}
