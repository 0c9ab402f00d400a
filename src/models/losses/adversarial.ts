// The adversarial pieces shared by the first-stage losses (Esser et al., "Taming Transformers
// for High-Resolution Image Synthesis", CVPR 2021, eq. 7-8; Rombach et al. 2022, appendix G).
import { grad } from '../../tensor/autograd.js';
import { abs, exp, log, neg, relu } from '../../tensor/ops/elementwise.js';
import { mean } from '../../tensor/ops/reduce.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

export type DiscriminatorLossName = 'hinge' | 'vanilla';

/** Hinge loss (Lim & Ye 2017): 0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(x_hat))). */
export function hingeDLoss(logitsReal: Tensor, logitsFake: Tensor): Tensor {
  const lossReal = mean(relu(neg(logitsReal).add(1)));
  const lossFake = mean(relu(logitsFake.add(1)));
  return lossReal.add(lossFake).mul(0.5);
}

/** softplus(x) = log(1 + e^x), computed as relu(x) + log(1 + e^-|x|) so that e^x never overflows. */
export function softplus(x: Tensor): Tensor {
  return relu(x).add(log(exp(neg(abs(x))).add(1)));
}

/**
 * The non-saturating GAN loss of Goodfellow et al. (2014) on logits:
 * 0.5 * (mean softplus(-D(x)) + mean softplus(D(x_hat))) = 0.5 * (BCE(D(x), 1) + BCE(D(x_hat), 0)).
 */
export function vanillaDLoss(logitsReal: Tensor, logitsFake: Tensor): Tensor {
  return mean(softplus(neg(logitsReal)))
    .add(mean(softplus(logitsFake)))
    .mul(0.5);
}

export function discriminatorLossFunction(name: DiscriminatorLossName): (real: Tensor, fake: Tensor) => Tensor {
  if (name === 'hinge') return hingeDLoss;
  if (name === 'vanilla') return vanillaDLoss;
  throw new Error(`disc_loss must be "hinge" or "vanilla", got ${JSON.stringify(name)}`);
}

/** `weight`, or `value` while globalStep < threshold: switches the GAN terms on at disc_start. */
export function adoptWeight(weight: number, globalStep: number, threshold = 0, value = 0): number {
  return globalStep < threshold ? value : weight;
}

/** Upper bound of the adaptive weight, before disc_weight. */
export const MAX_ADAPTIVE_WEIGHT = 1e4;

/**
 * The adaptive weight of Esser et al. (2021), eq. 7:
 *   lambda = ||grad_L nll|| / (||grad_L g_loss|| + 1e-4), clamped to [0, 1e4], times discWeight,
 * with L the decoder's last layer weight, so that the GAN gradient at the decoder output is on the
 * scale of the reconstruction gradient. A plain number: it is a constant (detached) in the loss.
 * Both gradients keep the graph, since the caller still backpropagates the total loss.
 */
export function adaptiveWeight(nllLoss: Tensor, gLoss: Tensor, lastLayer: Tensor, discWeight: number): number {
  if (!lastLayer.requiresGrad) {
    throw new Error(
      `adaptiveWeight: the last layer weight ${formatShape(lastLayer.shape)} does not require grad; pass the decoder's conv_out.weight parameter`,
    );
  }
  const [nllGrads] = grad(nllLoss, [lastLayer], { retainGraph: true });
  const [gGrads] = grad(gLoss, [lastLayer], { retainGraph: true });
  const ratio = l2Norm(nllGrads) / (l2Norm(gGrads) + 1e-4);
  return Math.min(Math.max(ratio, 0), MAX_ADAPTIVE_WEIGHT) * discWeight;
}

function l2Norm(t: Tensor): number {
  let sum = 0;
  for (const v of t.data) sum += v * v;
  return Math.sqrt(sum);
}
