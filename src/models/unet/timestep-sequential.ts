// TimestepEmbedSequential (CompVis openaimodel): the layers of one U-Net block, registered as
// `0`, `1`, ...; each gets what it needs: a ResBlock the timestep embedding, a SpatialTransformer
// the context, everything else the hidden state alone.
import type { Conv2d } from '../../nn/conv.js';
import { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { AttentionBlock } from './attention-block.js';
import type { Downsample, Upsample } from './resample.js';
import { ResBlock } from './resblock.js';
import { SpatialTransformer } from './spatial-transformer.js';

export type UNetLayer = Conv2d | ResBlock | AttentionBlock | SpatialTransformer | Downsample | Upsample;

export class TimestepEmbedSequential extends Module {
  readonly #layers: UNetLayer[] = [];

  constructor(...layers: UNetLayer[]) {
    super();
    for (const layer of layers) this.append(layer);
  }

  append(layer: UNetLayer): this {
    this.registerModule(String(this.#layers.length), layer);
    this.#layers.push(layer);
    return this;
  }

  get layers(): readonly UNetLayer[] {
    return this.#layers;
  }

  forward(x: Tensor, emb: Tensor, context?: Tensor): Tensor {
    let h = x;
    for (const layer of this.#layers) {
      if (layer instanceof ResBlock) h = layer.forward(h, emb);
      else if (layer instanceof SpatialTransformer) h = layer.forward(h, context);
      else h = layer.forward(h);
    }
    return h;
  }
}
