// What the KL and VQ first-stage losses share: the pixel + perceptual reconstruction term, the
// PatchGAN discriminator with its adaptive weight (generator phase) and the discriminator phase.
// A trainer alternates two optimizers: the autoencoder's on `generatorLoss` (in the subclasses),
// the discriminator's (discriminatorParameters()) on `discriminatorLoss`. The generator loss also
// reaches the discriminator's parameters (D(xHat) is in its graph), so zero their gradients
// before the discriminator's backward, as each optimizer's zeroGrad before its own backward does.
// (Lightning's toggle_optimizer avoided computing them; here that would cost a second, detached
// copy of the discriminator's forward, for a saving of a few percent of the backward.)
import { Module } from '../../nn/module.js';
import { isGradEnabled, noGrad } from '../../tensor/autograd.js';
import { abs, add, mul, sub } from '../../tensor/ops/elementwise.js';
import { mean } from '../../tensor/ops/reduce.js';
import { concat } from '../../tensor/ops/shape-ops.js';
import { Generator, defaultGenerator } from '../../tensor/random.js';
import { formatShape, shapesEqual } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { adaptiveWeight, adoptWeight, discriminatorLossFunction, type DiscriminatorLossName } from './adversarial.js';
import { NLayerDiscriminator } from './discriminator.js';
import {
  PERCEPTUAL_LOSS_NAMES,
  createPerceptualLoss,
  type PerceptualLoss,
  type PerceptualLossName,
} from './perceptual.js';

export type PixelLossName = 'l1' | 'l2';

export interface FirstStageLossOptions {
  /** Global step from which the GAN terms count (disc_factor is 0 before it). Required. */
  discStart: number;
  /** Stride-2 convs of the discriminator. Default 3. */
  discNumLayers?: number;
  /** Discriminator input channels (image channels, plus the condition's when conditional). Default 3. */
  discInChannels?: number;
  /** Discriminator width. Default 64. */
  discNdf?: number;
  /** Factor of the GAN terms once globalStep >= discStart. Default 1. */
  discFactor?: number;
  /** Multiplies the adaptive weight. Default 0.5 (KL) or 0.75 (VQ), as in the released configs. */
  discWeight?: number;
  /** Default `hinge`. */
  discLoss?: DiscriminatorLossName;
  /** The discriminator also sees a condition, concatenated to the image channels. Default false. */
  discConditional?: boolean;
  /** Weight of the perceptual term. Default 1. */
  perceptualWeight?: number;
  /** A perceptual term by name (default `ssim`), or a module to use as it is. */
  perceptualLoss?: PerceptualLossName | PerceptualLoss;
  /** LPIPS weights file, for perceptualLoss `lpips`. */
  perceptualWeights?: string;
  /** |x - xHat| (default) or (x - xHat)^2 per pixel. */
  pixelLoss?: PixelLossName;
  /** Source of the discriminator's initial weights. */
  generator?: Generator;
}

/** What both phases get from the training step. */
export interface FirstStageLossInputs {
  /** The images [N, C, H, W]. */
  inputs: Tensor;
  /** The autoencoder's reconstructions [N, C, H, W]. */
  reconstructions: Tensor;
  /** Optimizer steps taken so far (switches the GAN terms on at discStart). */
  globalStep: number;
  /** The condition [N, C', H, W] for a conditional discriminator. */
  cond?: Tensor;
}

export interface GeneratorPhaseInputs extends FirstStageLossInputs {
  /**
   * The decoder's last layer weight (`decoder.conv_out.weight`), for the adaptive weight. Required
   * in training mode once the GAN terms count; in eval mode without it the adaptive weight is 0.
   */
  lastLayer?: Tensor;
}

export interface DiscriminatorLog {
  disc_loss: number;
  logits_real: number;
  logits_fake: number;
}

export interface AdversarialTerm {
  /** -mean D(xHat), in the graph only when discFactor > 0. */
  gLoss: Tensor;
  dWeight: number;
  discFactor: number;
}

export abstract class FirstStageLossBase extends Module {
  readonly discriminator: NLayerDiscriminator;
  readonly perceptualLoss: PerceptualLoss | null;
  readonly discStart: number;
  readonly discFactor: number;
  readonly discWeight: number;
  readonly discConditional: boolean;
  readonly perceptualWeight: number;
  readonly pixelLoss: PixelLossName;
  readonly #discLoss: (real: Tensor, fake: Tensor) => Tensor;

  constructor(options: FirstStageLossOptions, defaultDiscWeight: number) {
    super();
    const {
      discStart,
      discNumLayers = 3,
      discInChannels = 3,
      discNdf = 64,
      discFactor = 1,
      discWeight = defaultDiscWeight,
      discLoss = 'hinge',
      discConditional = false,
      perceptualWeight = 1,
      perceptualLoss,
      perceptualWeights,
      pixelLoss = 'l1',
      generator = defaultGenerator,
    } = options;
    const name = this.constructor.name;
    if (!Number.isFinite(discStart)) throw new Error(`${name}: discStart (disc_start) is required, got ${discStart}`);
    for (const [key, value] of Object.entries({ discFactor, discWeight, perceptualWeight })) {
      if (!(value >= 0 && Number.isFinite(value))) throw new Error(`${name}: ${key} must be >= 0, got ${value}`);
    }
    if (pixelLoss !== 'l1' && pixelLoss !== 'l2') {
      throw new Error(`${name}: pixel_loss must be "l1" or "l2", got ${JSON.stringify(pixelLoss)}`);
    }
    this.discStart = discStart;
    this.discFactor = discFactor;
    this.discWeight = discWeight;
    this.discConditional = discConditional;
    this.perceptualWeight = perceptualWeight;
    this.pixelLoss = pixelLoss;
    this.#discLoss = discriminatorLossFunction(discLoss);
    if (typeof perceptualLoss === 'string' && !PERCEPTUAL_LOSS_NAMES.includes(perceptualLoss)) {
      throw new Error(
        `${name}: perceptual_loss must be one of ${PERCEPTUAL_LOSS_NAMES.join(', ')}, got ${JSON.stringify(perceptualLoss)}`,
      );
    }
    // Registration order gives the original's state-dict order: perceptual_loss, then discriminator.
    const perceptual =
      perceptualWeight === 0
        ? null
        : typeof perceptualLoss === 'object'
          ? perceptualLoss
          : createPerceptualLoss({ name: perceptualLoss, weightsPath: perceptualWeights });
    this.perceptualLoss = perceptual === null ? null : this.registerModule('perceptual_loss', perceptual);
    this.discriminator = this.registerModule(
      'discriminator',
      new NLayerDiscriminator({ inputNc: discInChannels, ndf: discNdf, nLayers: discNumLayers, generator }),
    );
  }

  /** The parameters the discriminator's optimizer steps. */
  discriminatorParameters(): Tensor[] {
    return this.discriminator.parameters();
  }

  /**
   * Per-pixel reconstruction loss [N, C, H, W]: |x - xHat| (or squared) plus perceptualWeight
   * times the per-sample perceptual term, broadcast over every pixel as in the original. Also
   * returns the perceptual term [N, 1, 1, 1] (null without one).
   */
  protected reconstructionLoss(inputs: Tensor, reconstructions: Tensor): { rec: Tensor; pLoss: Tensor | null } {
    if (inputs.rank !== 4 || !shapesEqual(inputs.shape, reconstructions.shape)) {
      throw new Error(
        `${this.constructor.name}: inputs ${formatShape(inputs.shape)} and reconstructions ${formatShape(reconstructions.shape)} must be images [N, C, H, W] of one shape`,
      );
    }
    const diff = sub(inputs, reconstructions);
    const pixel = this.pixelLoss === 'l1' ? abs(diff) : mul(diff, diff);
    if (this.perceptualLoss === null) return { rec: pixel, pLoss: null };
    const pLoss = this.perceptualLoss.forward(inputs, reconstructions);
    return { rec: add(pixel, mul(pLoss, this.perceptualWeight)), pLoss };
  }

  /**
   * The generator's GAN term: gLoss = -mean D(xHat), its factor (0 before discStart) and the
   * adaptive weight from `nllLoss`. Before discStart the term cannot change the loss, so gLoss is
   * computed outside the graph (for the log) and the adaptive weight, which costs two extra
   * backward passes, is skipped and logged as 0 (the original computes and logs it anyway).
   */
  protected adversarialTerm(args: GeneratorPhaseInputs, nllLoss: Tensor): AdversarialTerm {
    const discFactor = adoptWeight(this.discFactor, args.globalStep, this.discStart);
    const fakeInput = this.#discriminatorInput(args.reconstructions, args.cond);
    if (discFactor === 0) {
      const gLoss = noGrad(() => mean(this.discriminator.forward(fakeInput)).neg());
      return { gLoss, dWeight: 0, discFactor };
    }
    const gLoss = mean(this.discriminator.forward(fakeInput)).neg();
    let dWeight = 0;
    if (args.lastLayer !== undefined && isGradEnabled()) {
      dWeight = adaptiveWeight(nllLoss, gLoss, args.lastLayer, this.discWeight);
    } else if (this.training) {
      throw new Error(
        `${this.constructor.name}.generatorLoss: training after discStart needs lastLayer (the decoder's conv_out.weight) and gradient recording, for the adaptive weight`,
      );
    }
    return { gLoss, dWeight, discFactor };
  }

  /**
   * The discriminator phase: disc_factor * hinge or vanilla loss of D on the images and on the
   * (detached) reconstructions, two separate forward passes as in the original (each BatchNorm
   * sees one kind of image).
   */
  discriminatorLoss(args: FirstStageLossInputs): { loss: Tensor; log: DiscriminatorLog } {
    const { inputs, reconstructions, globalStep, cond } = args;
    if (!shapesEqual(inputs.shape, reconstructions.shape)) {
      throw new Error(
        `${this.constructor.name}.discriminatorLoss: inputs ${formatShape(inputs.shape)} and reconstructions ${formatShape(reconstructions.shape)} differ`,
      );
    }
    const logitsReal = this.discriminator.forward(this.#discriminatorInput(inputs.detach(), cond));
    const logitsFake = this.discriminator.forward(this.#discriminatorInput(reconstructions.detach(), cond));
    const discFactor = adoptWeight(this.discFactor, globalStep, this.discStart);
    const loss = mul(this.#discLoss(logitsReal, logitsFake), discFactor);
    const log: DiscriminatorLog = {
      disc_loss: loss.item(),
      logits_real: mean(logitsReal.detach()).item(),
      logits_fake: mean(logitsFake.detach()).item(),
    };
    return { loss, log };
  }

  #discriminatorInput(images: Tensor, cond: Tensor | undefined): Tensor {
    if (cond === undefined) return images;
    if (!this.discConditional) {
      throw new Error(`${this.constructor.name}: a condition was given, but disc_conditional is false`);
    }
    return concat([images, cond.detach()], 1);
  }
}
