// The VQ autoencoder's training loss (taming-transformers' / LDM's `VQLPIPSWithDiscriminator`;
// Esser et al. 2021, eq. 5-8): no learned likelihood scale; the mean reconstruction loss, the
// quantizer's codebook loss and the adaptively weighted PatchGAN term.
//   rec   = |x - xHat| (or squared) + perceptual_weight * perceptual(x, xHat)   (per pixel)
//   total = mean(rec) + d_weight * disc_factor * (-mean D(xHat)) + codebook_weight * codebook_loss
import { Tensor } from '../../tensor/tensor.js';
import { add, mul } from '../../tensor/ops/elementwise.js';
import { mean } from '../../tensor/ops/reduce.js';
import { FirstStageLossBase, type FirstStageLossOptions, type GeneratorPhaseInputs } from './first-stage-loss.js';

export interface VQLPIPSWithDiscriminatorOptions extends FirstStageLossOptions {
  /** Weight of the quantizer's loss. Default 1. */
  codebookWeight?: number;
}

export interface VQGeneratorInputs extends GeneratorPhaseInputs {
  /** The quantizer's loss (a scalar or per-sample values; their mean counts). Default 0. */
  codebookLoss?: Tensor;
}

/** The generator phase's terms, as numbers (the original's `train/...` log keys). */
export interface VQGeneratorLog {
  total_loss: number;
  quant_loss: number;
  nll_loss: number;
  rec_loss: number;
  p_loss: number;
  d_weight: number;
  disc_factor: number;
  g_loss: number;
}

export class VQLPIPSWithDiscriminator extends FirstStageLossBase {
  readonly codebookWeight: number;

  constructor(options: VQLPIPSWithDiscriminatorOptions) {
    super(options, 0.75);
    const { codebookWeight = 1 } = options;
    if (!(codebookWeight >= 0)) {
      throw new Error(`VQLPIPSWithDiscriminator: codebookWeight must be >= 0, got ${codebookWeight}`);
    }
    this.codebookWeight = codebookWeight;
  }

  /** The autoencoder's loss (optimizer_idx 0) and its log. */
  generatorLoss(args: VQGeneratorInputs): { loss: Tensor; log: VQGeneratorLog } {
    const codebookLoss = mean(args.codebookLoss ?? Tensor.scalar(0));
    const { rec, pLoss } = this.reconstructionLoss(args.inputs, args.reconstructions);
    const nllLoss = mean(rec);
    const { gLoss, dWeight, discFactor } = this.adversarialTerm(args, nllLoss);
    let loss = add(nllLoss, mul(codebookLoss, this.codebookWeight));
    if (discFactor > 0) loss = add(loss, mul(gLoss, dWeight * discFactor));
    const log: VQGeneratorLog = {
      total_loss: loss.item(),
      quant_loss: codebookLoss.item(),
      nll_loss: nllLoss.item(),
      rec_loss: nllLoss.item(),
      p_loss: pLoss === null ? 0 : mean(pLoss.detach()).item(),
      d_weight: dWeight,
      disc_factor: discFactor,
      g_loss: gLoss.item(),
    };
    return { loss, log };
  }
}
