// The U-Net's resampling layers (CompVis openaimodel Upsample/Downsample): keys `conv` (up) and
// `op` (down), present only when the layer has a convolution.
import { Conv2d } from '../../nn/conv.js';
import { Module } from '../../nn/module.js';
import { avgPool2d, upsampleNearest } from '../../tensor/ops/conv.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface ResampleOptions {
  /** Follow the resampling with (up) or do it by (down) a 3x3 convolution; else no parameters. */
  useConv: boolean;
  /** Output channels of the convolution (default: channels; without a conv they must be equal). */
  outChannels?: number;
  generator?: Generator;
}

function outChannelsOf(channels: number, { useConv, outChannels }: ResampleOptions, layer: string): number {
  const out = outChannels ?? channels;
  if (!useConv && out !== channels) {
    throw new Error(`${layer}: without a conv the channels cannot change (${channels} -> ${out})`);
  }
  return out;
}

/** Nearest-neighbour x2, then (useConv) a 3x3 convolution with padding 1. */
export class Upsample extends Module {
  readonly conv: Conv2d | null;

  constructor(
    readonly channels: number,
    options: ResampleOptions,
  ) {
    super();
    const out = outChannelsOf(channels, options, 'Upsample');
    this.conv = options.useConv
      ? this.registerModule('conv', new Conv2d(channels, out, 3, { padding: 1, generator: options.generator }))
      : null;
  }

  forward(x: Tensor): Tensor {
    const up = upsampleNearest(x, 2);
    return this.conv === null ? up : this.conv.forward(up);
  }
}

/**
 * Halves the resolution: a 3x3 stride-2 convolution with padding 1 (useConv), else 2x2 average
 * pooling. (The autoencoder's Downsample pads asymmetrically instead; this one is the U-Net's.)
 */
export class Downsample extends Module {
  readonly op: Conv2d | null;

  constructor(
    readonly channels: number,
    options: ResampleOptions,
  ) {
    super();
    const out = outChannelsOf(channels, options, 'Downsample');
    this.op = options.useConv
      ? this.registerModule('op', new Conv2d(channels, out, 3, { stride: 2, padding: 1, generator: options.generator }))
      : null;
  }

  forward(x: Tensor): Tensor {
    return this.op === null ? avgPool2d(x, 2) : this.op.forward(x);
  }
}
