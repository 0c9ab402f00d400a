// The U-Net's residual block with a timestep embedding (Ho et al. 2020; Dhariwal & Nichol 2021,
// Sec. 3 for scale-shift norm and up/down ResBlocks), in CompVis' layout:
//   in_layers    = [GroupNorm, SiLU, conv3x3]            (in_layers.0, in_layers.2)
//   emb_layers   = [SiLU, Linear(emb -> C or 2C)]        (emb_layers.1)
//   out_layers   = [GroupNorm, SiLU, Dropout, conv3x3]   (out_layers.0, out_layers.3, zero-initialised)
//   skip_connection: 1x1 (or 3x3 with useConv) conv when the channel count changes.
import { SiLU } from '../../nn/activation.js';
import { Sequential } from '../../nn/container.js';
import { Conv2d } from '../../nn/conv.js';
import { Dropout } from '../../nn/dropout.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import type { GroupNorm } from '../../nn/normalization.js';
import { silu } from '../../tensor/ops/elementwise.js';
import type { Generator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { normalization, zeroModule } from './layers.js';
import { Downsample, Upsample } from './resample.js';

export interface ResBlockOptions {
  /** Output channels (default: the input's). */
  outChannels?: number;
  dropout?: number;
  /** A 3x3 instead of a 1x1 skip convolution when the channels change. */
  useConv?: boolean;
  /** GN(h) * (1 + scale) + shift, with the embedding projected to 2 * outChannels. */
  useScaleShiftNorm?: boolean;
  /** Upsample (nearest x2) inside the block, hidden state and skip alike. */
  up?: boolean;
  /** Downsample (2x2 average pooling) inside the block, hidden state and skip alike. */
  down?: boolean;
  generator?: Generator;
}

export class ResBlock extends Module {
  readonly outChannels: number;
  readonly useScaleShiftNorm: boolean;
  readonly inNorm: GroupNorm;
  readonly inConv: Conv2d;
  readonly embProjection: Linear;
  readonly outNorm: GroupNorm;
  readonly outDropout: Dropout;
  readonly outConv: Conv2d;
  readonly resample: Upsample | Downsample | null;
  readonly skipConnection: Conv2d | null;

  constructor(
    readonly channels: number,
    readonly embChannels: number,
    {
      outChannels = channels,
      dropout = 0,
      useConv = false,
      useScaleShiftNorm = false,
      up = false,
      down = false,
      generator,
    }: ResBlockOptions = {},
  ) {
    super();
    if (up && down) throw new Error('ResBlock: up and down cannot both be set');
    this.outChannels = outChannels;
    this.useScaleShiftNorm = useScaleShiftNorm;
    this.inNorm = normalization(channels);
    this.inConv = new Conv2d(channels, outChannels, 3, { padding: 1, generator });
    this.registerModule('in_layers', new Sequential(this.inNorm, new SiLU(), this.inConv));
    // One parameterless resampler serves both the hidden state and the skip (CompVis' h_upd, x_upd).
    this.resample = up
      ? new Upsample(channels, { useConv: false })
      : down
        ? new Downsample(channels, { useConv: false })
        : null;
    this.embProjection = new Linear(embChannels, useScaleShiftNorm ? 2 * outChannels : outChannels, { generator });
    this.registerModule('emb_layers', new Sequential(new SiLU(), this.embProjection));
    this.outNorm = normalization(outChannels);
    this.outDropout = new Dropout(dropout, { generator });
    this.outConv = zeroModule(new Conv2d(outChannels, outChannels, 3, { padding: 1, generator }));
    this.registerModule('out_layers', new Sequential(this.outNorm, new SiLU(), this.outDropout, this.outConv));
    this.skipConnection =
      outChannels === channels
        ? null
        : this.registerModule(
            'skip_connection',
            new Conv2d(channels, outChannels, useConv ? 3 : 1, { padding: useConv ? 1 : 0, generator }),
          );
  }

  /** x [N, channels, H, W], emb [N, embChannels] -> [N, outChannels, H', W']. */
  forward(x: Tensor, emb: Tensor): Tensor {
    const [n, c] = x.shape;
    if (
      x.rank !== 4 ||
      c !== this.channels ||
      emb.rank !== 2 ||
      emb.shape[0] !== n ||
      emb.shape[1] !== this.embChannels
    ) {
      throw new Error(
        `ResBlock: expected x [N, ${this.channels}, H, W] and emb [N, ${this.embChannels}], got ${formatShape(x.shape)} and ${formatShape(emb.shape)}`,
      );
    }
    let h = silu(this.inNorm.forward(x));
    let skipInput = x;
    if (this.resample !== null) {
      h = this.resample.forward(h);
      skipInput = this.resample.forward(x);
    }
    h = this.inConv.forward(h);
    const embOut = this.embProjection.forward(silu(emb)); // [N, C] or [N, 2C]
    if (this.useScaleShiftNorm) {
      const [scale, shift] = embOut.reshape([n, 2 * this.outChannels, 1, 1]).chunk(2, 1);
      h = this.outNorm.forward(h).mul(scale.add(1)).add(shift);
    } else {
      h = this.outNorm.forward(h.add(embOut.reshape([n, this.outChannels, 1, 1])));
    }
    h = this.outConv.forward(this.outDropout.forward(silu(h)));
    const skip = this.skipConnection === null ? skipInput : this.skipConnection.forward(skipInput);
    return skip.add(h);
  }
}
