// The building blocks shared by the autoencoder's Encoder and Decoder (Rombach et al. 2022,
// Appendix G; the layout of the CompVis first-stage models). Registered names are the
// checkpoint's: `norm1`, `conv1`, `nin_shortcut`, `q`, `proj_out`, `conv`.
import { Conv2d } from '../../nn/conv.js';
import { Dropout } from '../../nn/dropout.js';
import { Module } from '../../nn/module.js';
import { GroupNorm } from '../../nn/normalization.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { upsampleNearest } from '../../tensor/ops/conv.js';
import { silu } from '../../tensor/ops/elementwise.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

/** The autoencoder's normalisation: GroupNorm with 32 groups, eps 1e-6, affine. */
export function normalize(channels: number): GroupNorm {
  return new GroupNorm(32, channels, { eps: 1e-6 });
}

export interface BlockOptions {
  /** Source of the initial weights (default: the global generator). */
  generator?: Generator;
}

/**
 * x + conv2(dropout(silu(norm2(conv1(silu(norm1(x))))))), with a 1x1 `nin_shortcut` on x when
 * the channel count changes. The first stage has no timestep embedding, so no `temb_proj`.
 */
export class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly dropout: Dropout;
  readonly conv2: Conv2d;
  readonly ninShortcut: Conv2d | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    { dropout = 0, generator }: BlockOptions & { dropout?: number } = {},
  ) {
    super();
    this.norm1 = this.registerModule('norm1', normalize(inChannels));
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1, generator }));
    this.norm2 = this.registerModule('norm2', normalize(outChannels));
    this.dropout = this.registerModule('dropout', new Dropout(dropout, { generator }));
    this.conv2 = this.registerModule('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1, generator }));
    this.ninShortcut =
      inChannels === outChannels
        ? null
        : this.registerModule('nin_shortcut', new Conv2d(inChannels, outChannels, 1, { generator }));
  }

  forward(x: Tensor): Tensor {
    let h = this.conv1.forward(silu(this.norm1.forward(x)));
    h = this.conv2.forward(this.dropout.forward(silu(this.norm2.forward(h))));
    const shortcut = this.ninShortcut === null ? x : this.ninShortcut.forward(x);
    return shortcut.add(h);
  }
}

/**
 * Single-head self-attention over the H*W positions, with 1x1 convolutions as the q, k, v and
 * output projections and scores scaled by C^-0.5; residual.
 */
export class AttnBlock extends Module {
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly projOut: Conv2d;

  constructor(
    readonly channels: number,
    { generator }: BlockOptions = {},
  ) {
    super();
    this.norm = this.registerModule('norm', normalize(channels));
    this.q = this.registerModule('q', new Conv2d(channels, channels, 1, { generator }));
    this.k = this.registerModule('k', new Conv2d(channels, channels, 1, { generator }));
    this.v = this.registerModule('v', new Conv2d(channels, channels, 1, { generator }));
    this.projOut = this.registerModule('proj_out', new Conv2d(channels, channels, 1, { generator }));
  }

  forward(x: Tensor): Tensor {
    const [b, c, h, w] = x.shape;
    const normed = this.norm.forward(x);
    // [B, C, H, W] -> [B, HW, C]: positions are the sequence, channels the (single) head.
    const tokens = (t: Tensor): Tensor => t.reshape([b, c, h * w]).transpose(1, 2);
    const q = tokens(this.q.forward(normed));
    const k = tokens(this.k.forward(normed));
    const v = tokens(this.v.forward(normed));
    const attended = scaledDotProductAttention(q, k, v, { heads: 1, scale: c ** -0.5 }); // [B, HW, C]
    const image = attended.transpose(1, 2).reshape([b, c, h, w]);
    return x.add(this.projOut.forward(image));
  }
}

/**
 * Halves the resolution: zero padding of one row at the bottom and one column at the right,
 * then a 3x3 stride-2 convolution without padding (the CompVis asymmetric padding).
 */
export class Downsample extends Module {
  readonly conv: Conv2d;

  constructor(channels: number, { generator }: BlockOptions = {}) {
    super();
    // padding [top, bottom, left, right]
    this.conv = this.registerModule(
      'conv',
      new Conv2d(channels, channels, 3, { stride: 2, padding: [0, 1, 0, 1], generator }),
    );
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }
}

/** Doubles the resolution: nearest-neighbour x2, then a 3x3 convolution with padding 1. */
export class Upsample extends Module {
  readonly conv: Conv2d;

  constructor(channels: number, { generator }: BlockOptions = {}) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(channels, channels, 3, { padding: 1, generator }));
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(upsampleNearest(x, 2));
  }
}
