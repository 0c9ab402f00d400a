// VQModel: the discrete first stage (a VQGAN, Esser et al. 2021), whose latents are snapped to
// a learned codebook. Keys: `encoder.*`, `decoder.*`, `quantize.embedding.weight`,
// `quant_conv.*`, `post_quant_conv.*`. As CompVis' VQModelInterface, an LDM diffuses the
// pre-quantisation latent, and decoding a latent quantises it first.
import { Conv2d } from '../../nn/conv.js';
import { Module } from '../../nn/module.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { downsamplingFactor } from './check.js';
import type { DDConfig } from './config.js';
import { Decoder } from './decoder.js';
import { Encoder } from './encoder.js';
import type { FirstStageModel } from './first-stage.js';
import { VectorQuantizer, type Quantized } from './quantize.js';

export interface VQModelOptions {
  ddconfig: DDConfig;
  embed_dim: number;
  n_embed: number;
  /** Commitment weight (default 0.25). */
  beta?: number;
  /** Commitment-loss form (default true, the CompVis one); see VectorQuantizer. */
  legacy?: boolean;
}

export interface VQModelOutput {
  reconstruction: Tensor;
  /** Codebook + commitment loss (scalar). */
  quantLoss: Tensor;
  /** [B, h, w] code indices. */
  indices: Tensor;
  perplexity: number;
}

export class VQModel extends Module implements FirstStageModel {
  readonly kind = 'vq';
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantize: VectorQuantizer;
  /** 1x1: z_channels -> embed_dim. */
  readonly quantConv: Conv2d;
  /** 1x1: embed_dim -> z_channels. */
  readonly postQuantConv: Conv2d;
  readonly latentChannels: number;
  readonly downsamplingFactor: number;

  constructor(
    readonly options: VQModelOptions,
    generator?: Generator,
  ) {
    super();
    const { ddconfig, embed_dim: embedDim, n_embed: nEmbed } = options;
    if (ddconfig.double_z) throw new Error('VQModel: ddconfig.double_z must be false (the encoder gives one latent)');
    if (!Number.isInteger(embedDim) || embedDim < 1)
      throw new Error(`VQModel: embed_dim must be a positive integer, got ${embedDim}`);
    if (!Number.isInteger(nEmbed) || nEmbed < 1)
      throw new Error(`VQModel: n_embed must be a positive integer, got ${nEmbed}`);
    this.encoder = this.registerModule('encoder', new Encoder(ddconfig, generator));
    this.decoder = this.registerModule('decoder', new Decoder(ddconfig, generator));
    this.quantize = this.registerModule(
      'quantize',
      new VectorQuantizer(nEmbed, embedDim, { beta: options.beta, legacy: options.legacy, generator }),
    );
    const z = ddconfig.z_channels;
    this.quantConv = this.registerModule('quant_conv', new Conv2d(z, embedDim, 1, { generator }));
    this.postQuantConv = this.registerModule('post_quant_conv', new Conv2d(embedDim, z, 1, { generator }));
    this.latentChannels = embedDim;
    this.downsamplingFactor = downsamplingFactor(ddconfig);
  }

  /** Images [B, C, H, W] -> the pre-quantisation latent [B, embed_dim, H / f, W / f]. */
  encodePrequant(x: Tensor): Tensor {
    return this.quantConv.forward(this.encoder.forward(x));
  }

  /** Images -> quantised latents, their code indices and the quantiser's loss. */
  encode(x: Tensor): Quantized {
    return this.quantize.forward(this.encodePrequant(x));
  }

  /** Quantised latents [B, embed_dim, h, w] -> images [B, out_ch, h * f, w * f]. */
  decode(quantized: Tensor): Tensor {
    return this.decoder.forward(this.postQuantConv.forward(quantized));
  }

  /** Code indices [B, h, w] -> images. */
  decodeCode(indices: Tensor): Tensor {
    return this.decode(this.quantize.lookup(indices));
  }

  forward(x: Tensor): VQModelOutput {
    const { quantized, loss, indices, perplexity } = this.encode(x);
    return { reconstruction: this.decode(quantized), quantLoss: loss, indices, perplexity };
  }

  encodeLatent(x: Tensor): Tensor {
    return this.encodePrequant(x);
  }

  decodeLatent(z: Tensor): Tensor {
    return this.decode(this.quantize.forward(z).quantized);
  }
}
