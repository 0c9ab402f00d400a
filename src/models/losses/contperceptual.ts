// The KL autoencoder's training loss (LDM's `ldm.modules.losses.LPIPSWithDiscriminator`;
// Rombach et al. 2022, appendix G): a Laplace likelihood with a learned scale on the
// reconstruction, a small KL term, and the adaptively weighted PatchGAN term.
//   rec   = |x - xHat| + perceptual_weight * perceptual(x, xHat)     (per pixel)
//   nll   = sum(rec / exp(logvar) + logvar) / N
//   total = nll + kl_weight * sum(KL) / N + d_weight * disc_factor * (-mean D(xHat))
import { Tensor } from '../../tensor/tensor.js';
import { add, div, exp, mul } from '../../tensor/ops/elementwise.js';
import { mean, sum } from '../../tensor/ops/reduce.js';
import { formatShape } from '../../tensor/shape.js';
import { FirstStageLossBase, type FirstStageLossOptions, type GeneratorPhaseInputs } from './first-stage-loss.js';

export interface LPIPSWithDiscriminatorOptions extends FirstStageLossOptions {
  /** Initial value of the learned scalar `logvar`. Default 0. */
  logvarInit?: number;
  /** Weight of the KL term. Default 1e-6, as in the released configs. */
  klWeight?: number;
}

export interface KLGeneratorInputs extends GeneratorPhaseInputs {
  /** The posterior's KL divergence per sample (`posterior.kl()`), [N]. */
  kl: Tensor;
  /** Optional per-pixel weights of the nll (broadcast to [N, C, H, W]). */
  weights?: Tensor;
}

/** The generator phase's terms, as numbers (the original's `train/...` log keys). */
export interface KLGeneratorLog {
  total_loss: number;
  logvar: number;
  kl_loss: number;
  nll_loss: number;
  rec_loss: number;
  d_weight: number;
  disc_factor: number;
  g_loss: number;
}

export class LPIPSWithDiscriminator extends FirstStageLossBase {
  /**
   * log sigma^2 of the likelihood, a learned scalar. The original's autoencoder optimizer does
   * not include it (so it stays at logvarInit); a trainer that wants it learned adds it.
   */
  readonly logvar: Tensor;
  readonly klWeight: number;

  constructor(options: LPIPSWithDiscriminatorOptions) {
    super(options, 0.5);
    const { logvarInit = 0, klWeight = 1e-6 } = options;
    if (!Number.isFinite(logvarInit))
      throw new Error(`LPIPSWithDiscriminator: logvarInit must be finite, got ${logvarInit}`);
    if (!(klWeight >= 0)) throw new Error(`LPIPSWithDiscriminator: klWeight must be >= 0, got ${klWeight}`);
    this.klWeight = klWeight;
    this.logvar = this.registerParameter('logvar', Tensor.scalar(logvarInit));
  }

  /** The autoencoder's loss (optimizer_idx 0) and its log. */
  generatorLoss(args: KLGeneratorInputs): { loss: Tensor; log: KLGeneratorLog } {
    const { inputs, reconstructions, kl, weights } = args;
    const n = inputs.shape[0];
    if (kl.rank < 1 || kl.shape[0] !== n) {
      throw new Error(`LPIPSWithDiscriminator: kl must hold one value per sample [${n}], got ${formatShape(kl.shape)}`);
    }
    const { rec } = this.reconstructionLoss(inputs, reconstructions);
    const nll = add(div(rec, exp(this.logvar)), this.logvar);
    const nllLoss = mul(sum(nll), 1 / n);
    const weightedNllLoss = weights === undefined ? nllLoss : mul(sum(mul(nll, weights)), 1 / n);
    const klLoss = mul(sum(kl), 1 / n);
    const { gLoss, dWeight, discFactor } = this.adversarialTerm(args, nllLoss);
    let loss = add(weightedNllLoss, mul(klLoss, this.klWeight));
    if (discFactor > 0) loss = add(loss, mul(gLoss, dWeight * discFactor));
    const log: KLGeneratorLog = {
      total_loss: loss.item(),
      logvar: this.logvar.item(),
      kl_loss: klLoss.item(),
      nll_loss: nllLoss.item(),
      rec_loss: mean(rec.detach()).item(),
      d_weight: dWeight,
      disc_factor: discFactor,
      g_loss: gLoss.item(),
    };
    return { loss, log };
  }
}
