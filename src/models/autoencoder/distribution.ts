// The KL autoencoder's posterior q(z | x): a diagonal Gaussian per latent element
// (Kingma & Welling 2014), its moments being the encoder output split along channels.
import { Generator, defaultGenerator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

/** log(2 pi), of the Gaussian's normalising constant. */
const LOG_TWO_PI = Math.log(2 * Math.PI);

export class DiagonalGaussianDistribution {
  readonly mean: Tensor;
  /** Clamped to [-30, 20], so that exp() stays finite in float32. */
  readonly logvar: Tensor;
  readonly std: Tensor;
  readonly var: Tensor;

  /** `moments` [B, 2C, h, w]: the first C channels are the mean, the last C the log-variance. */
  constructor(readonly moments: Tensor) {
    if (moments.rank !== 4 || moments.shape[1] % 2 !== 0) {
      throw new Error(
        `DiagonalGaussianDistribution: expected moments [B, 2C, h, w], got ${formatShape(moments.shape)}`,
      );
    }
    const [mean, logvar] = moments.chunk(2, 1);
    this.mean = mean;
    this.logvar = logvar.clamp(-30, 20);
    this.std = this.logvar.mul(0.5).exp();
    this.var = this.logvar.exp();
  }

  /** mean + std * eps with eps ~ N(0, I) drawn from `generator` (the reparameterisation trick). */
  sample(generator: Generator = defaultGenerator): Tensor {
    return this.mean.add(this.std.mul(Tensor.randn(this.mean.shape, generator)));
  }

  /** The most likely latent: the mean. */
  mode(): Tensor {
    return this.mean;
  }

  /**
   * KL(q || p) per batch element, [B]: against N(0, I) by default,
   * 0.5 * sum(mean^2 + var - 1 - logvar) over C, h, w; or against another diagonal Gaussian,
   * 0.5 * sum((mean - mean_p)^2 / var_p + var / var_p - 1 - logvar + logvar_p).
   */
  kl(other?: DiagonalGaussianDistribution): Tensor {
    if (other === undefined) {
      return this.mean.square().add(this.var).sub(1).sub(this.logvar).sum([1, 2, 3]).mul(0.5);
    }
    return this.mean
      .sub(other.mean)
      .square()
      .div(other.var)
      .add(this.var.div(other.var))
      .sub(1)
      .sub(this.logvar)
      .add(other.logvar)
      .sum([1, 2, 3])
      .mul(0.5);
  }

  /** Negative log-likelihood of `sample` per batch element, [B]: 0.5 * sum(log 2pi + logvar + (x - mean)^2 / var). */
  nll(sample: Tensor): Tensor {
    return this.logvar.add(LOG_TWO_PI).add(sample.sub(this.mean).square().div(this.var)).sum([1, 2, 3]).mul(0.5);
  }
}
