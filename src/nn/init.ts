// Parameter initialisation (torch.nn.init). Each function fills a tensor in place, outside
// autograd, and returns it; random ones draw from the given Generator (default: the global one).
// Formulas follow PyTorch: gain per nonlinearity, fans from the weight's shape, and
// Kaiming/Xavier bounds derived from them.
import { Generator, defaultGenerator } from '../tensor/random.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export type Nonlinearity =
  'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain); `param` is leaky_relu's slope. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
  }
}

/**
 * [fanIn, fanOut] of a weight [out, in, ...kernel]: in * receptive field and out * receptive
 * field. For a grouped conv weight [out, in / groups, kh, kw] this gives fanIn = in / groups * kh * kw.
 */
export function fanInAndFanOut(tensor: Tensor): [number, number] {
  if (tensor.rank < 2) {
    throw new Error(`fanInAndFanOut: needs a tensor of rank >= 2, got shape ${formatShape(tensor.shape)}`);
  }
  const receptiveField = tensor.size / (tensor.shape[0] * tensor.shape[1]);
  return [tensor.shape[1] * receptiveField, tensor.shape[0] * receptiveField];
}

export function constant_(tensor: Tensor, value: number): Tensor {
  tensor.data.fill(value);
  return tensor;
}

export function zeros_(tensor: Tensor): Tensor {
  return constant_(tensor, 0);
}

export function ones_(tensor: Tensor): Tensor {
  return constant_(tensor, 1);
}

/** Uniform in [low, high). */
export function uniform_(tensor: Tensor, low = 0, high = 1, generator: Generator = defaultGenerator): Tensor {
  if (!(low <= high)) throw new Error(`uniform_: low ${low} must not exceed high ${high}`);
  generator.fillUniform(tensor.data, low, high);
  return tensor;
}

export function normal_(tensor: Tensor, mean = 0, std = 1, generator: Generator = defaultGenerator): Tensor {
  if (!(std >= 0)) throw new Error(`normal_: std must be >= 0, got ${std}`);
  generator.fillNormal(tensor.data, mean, std);
  return tensor;
}

export interface KaimingOptions {
  /** Negative slope of the leaky_relu that follows (used only by that nonlinearity's gain). */
  a?: number;
  /** Preserve the variance of activations ('fan_in') or of gradients ('fan_out'). */
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function kaimingStd(tensor: Tensor, { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' }: KaimingOptions): number {
  const [fanIn, fanOut] = fanInAndFanOut(tensor);
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  return calculateGain(nonlinearity, a) / Math.sqrt(fan);
}

/**
 * He et al. (2015) uniform init: U(-b, b), b = gain * sqrt(3 / fan). With a = sqrt(5), as
 * Linear and Conv2d use, b = 1 / sqrt(fanIn).
 */
export function kaimingUniform_(tensor: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(tensor, options);
  return uniform_(tensor, -bound, bound, options.generator);
}

/** He et al. (2015) normal init: N(0, gain^2 / fan). */
export function kaimingNormal_(tensor: Tensor, options: KaimingOptions = {}): Tensor {
  return normal_(tensor, 0, kaimingStd(tensor, options), options.generator);
}

/** Glorot & Bengio (2010) uniform init: U(-b, b), b = gain * sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform_(tensor: Tensor, gain = 1, generator: Generator = defaultGenerator): Tensor {
  const [fanIn, fanOut] = fanInAndFanOut(tensor);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(tensor, -bound, bound, generator);
}

/** Glorot & Bengio (2010) normal init: N(0, gain^2 * 2 / (fanIn + fanOut)). */
export function xavierNormal_(tensor: Tensor, gain = 1, generator: Generator = defaultGenerator): Tensor {
  const [fanIn, fanOut] = fanInAndFanOut(tensor);
  return normal_(tensor, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}
