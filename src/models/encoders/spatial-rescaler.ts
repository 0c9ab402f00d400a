// SpatialRescaler (CompVis ldm.modules.encoders.modules): the conditioning stage for image-shaped
// conditions (semantic maps, low-resolution images) that are concatenated to the U-Net input or
// attended to. It resizes n_stages times by `multiplier` and optionally maps the channels with a
// 1x1 convolution, `channel_mapper` (key `channel_mapper.weight`, and `.bias` with bias).
import { Conv2d } from '../../nn/conv.js';
import { Module } from '../../nn/module.js';
import type { Generator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { INTERPOLATION_MODES, interpolate, type InterpolationMode } from './interpolate.js';

/** The constructor arguments of CompVis' SpatialRescaler, snake_case as in the YAML files. */
export interface SpatialRescalerParams {
  n_stages: number;
  /** nearest, bilinear, bicubic or area (CompVis also lists linear and trilinear, which are not 2-D). */
  method: string;
  multiplier: number;
  in_channels: number;
  /** Channels after the 1x1 `channel_mapper`; null keeps the input's and adds no parameters. */
  out_channels: number | null;
  bias: boolean;
}

export const SPATIAL_RESCALER_DEFAULTS: SpatialRescalerParams = {
  n_stages: 1,
  method: 'bilinear',
  multiplier: 0.5,
  in_channels: 3,
  out_channels: null,
  bias: false,
};

export class SpatialRescaler extends Module {
  readonly params: SpatialRescalerParams;
  readonly method: InterpolationMode;
  readonly channelMapper: Conv2d | null;

  constructor(params: Partial<SpatialRescalerParams> = {}, generator?: Generator) {
    super();
    this.params = { ...SPATIAL_RESCALER_DEFAULTS, ...params };
    const { n_stages: stages, method, multiplier, in_channels: inChannels, out_channels: outChannels } = this.params;
    if (!Number.isInteger(stages) || stages < 0) {
      throw new Error(`SpatialRescaler: n_stages must be a non-negative integer, got ${stages}`);
    }
    if (!(INTERPOLATION_MODES as readonly string[]).includes(method)) {
      throw new Error(
        `SpatialRescaler: method "${method}" is not one of ${INTERPOLATION_MODES.join(', ')} (for images)`,
      );
    }
    this.method = method as InterpolationMode;
    if (!(multiplier > 0 && Number.isFinite(multiplier))) {
      throw new Error(`SpatialRescaler: multiplier must be positive, got ${multiplier}`);
    }
    this.channelMapper =
      outChannels === null
        ? null
        : this.registerModule(
            'channel_mapper',
            new Conv2d(inChannels, outChannels, 1, { bias: this.params.bias, generator }),
          );
  }

  /** Channels of the output. */
  get outChannels(): number {
    return this.params.out_channels ?? this.params.in_channels;
  }

  /** x [N, in_channels, H, W] -> [N, outChannels, H m^n, W m^n] (each stage floors the size). */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.params.in_channels) {
      throw new Error(`SpatialRescaler: expected [N, ${this.params.in_channels}, H, W], got ${formatShape(x.shape)}`);
    }
    let h = x;
    for (let stage = 0; stage < this.params.n_stages; stage++) h = interpolate(h, this.params.multiplier, this.method);
    return this.channelMapper === null ? h : this.channelMapper.forward(h);
  }

  /** The conditioning-stage interface (CompVis `encode`): the same as forward. */
  encode(x: Tensor): Tensor {
    return this.forward(x);
  }
}
