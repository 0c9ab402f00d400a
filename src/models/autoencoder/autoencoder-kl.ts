// AutoencoderKL: the continuous first stage, regularised towards N(0, I) by a small KL term
// (Rombach et al. 2022, Sec. 3.1 and Appendix G). Keys: `encoder.*`, `decoder.*`, `quant_conv.*`,
// `post_quant_conv.*`.
import { Conv2d } from '../../nn/conv.js';
import { Module } from '../../nn/module.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { downsamplingFactor } from './check.js';
import type { DDConfig } from './config.js';
import { Decoder } from './decoder.js';
import { DiagonalGaussianDistribution } from './distribution.js';
import { Encoder } from './encoder.js';
import type { FirstStageModel } from './first-stage.js';

export interface AutoencoderKLOptions {
  ddconfig: DDConfig;
  embed_dim: number;
}

export interface AutoencoderKLOutput {
  reconstruction: Tensor;
  posterior: DiagonalGaussianDistribution;
}

export class AutoencoderKL extends Module implements FirstStageModel {
  readonly kind = 'kl';
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  /** 1x1: 2 * z_channels -> 2 * embed_dim (the posterior's moments). */
  readonly quantConv: Conv2d;
  /** 1x1: embed_dim -> z_channels. */
  readonly postQuantConv: Conv2d;
  readonly latentChannels: number;
  readonly downsamplingFactor: number;

  constructor(
    readonly options: AutoencoderKLOptions,
    generator?: Generator,
  ) {
    super();
    const { ddconfig, embed_dim: embedDim } = options;
    if (!ddconfig.double_z)
      throw new Error('AutoencoderKL: ddconfig.double_z must be true (the encoder gives mean and log-variance)');
    if (!Number.isInteger(embedDim) || embedDim < 1)
      throw new Error(`AutoencoderKL: embed_dim must be a positive integer, got ${embedDim}`);
    this.encoder = this.registerModule('encoder', new Encoder(ddconfig, generator));
    this.decoder = this.registerModule('decoder', new Decoder(ddconfig, generator));
    const z = ddconfig.z_channels;
    this.quantConv = this.registerModule('quant_conv', new Conv2d(2 * z, 2 * embedDim, 1, { generator }));
    this.postQuantConv = this.registerModule('post_quant_conv', new Conv2d(embedDim, z, 1, { generator }));
    this.latentChannels = embedDim;
    this.downsamplingFactor = downsamplingFactor(ddconfig);
  }

  /** Images [B, C, H, W] -> the posterior over latents [B, embed_dim, H / f, W / f]. */
  encode(x: Tensor): DiagonalGaussianDistribution {
    return new DiagonalGaussianDistribution(this.quantConv.forward(this.encoder.forward(x)));
  }

  /** Latents [B, embed_dim, h, w] -> images [B, out_ch, h * f, w * f]. */
  decode(z: Tensor): Tensor {
    return this.decoder.forward(this.postQuantConv.forward(z));
  }

  /** Reconstructs x from a posterior sample (training) or from the mean (samplePosterior false). */
  forward(
    x: Tensor,
    { samplePosterior = true, generator }: { samplePosterior?: boolean; generator?: Generator } = {},
  ): AutoencoderKLOutput {
    const posterior = this.encode(x);
    const z = samplePosterior ? posterior.sample(generator) : posterior.mode();
    return { reconstruction: this.decode(z), posterior };
  }

  encodeLatent(x: Tensor, generator?: Generator): Tensor {
    const posterior = this.encode(x);
    return generator === undefined ? posterior.mode() : posterior.sample(generator);
  }

  decodeLatent(z: Tensor): Tensor {
    return this.decode(z);
  }
}
