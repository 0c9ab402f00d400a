// Image ops: 2-D convolution, nearest upsampling, average pooling.
import type { Conv2dParams } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { getBackend } from '../device.js';
import { allocate } from '../memory.js';
import { formatShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sum } from './reduce.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  /** Symmetric [h, w] padding, or asymmetric [top, bottom, left, right]. */
  padding?: number | [number, number] | [number, number, number, number];
  dilation?: number | [number, number];
  groups?: number;
}

function pair(v: number | [number, number], name: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!p.every((x) => Number.isInteger(x) && x >= 0))
    throw new Error(`conv2d: ${name} must be non-negative integers, got ${String(v)}`);
  return p;
}

/** conv2d(x, weight, bias) for x [N, C, H, W], weight [O, C / groups, kh, kw] (torch.nn.functional.conv2d). */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  if (x.rank !== 4 || weight.rank !== 4) {
    throw new Error(
      `conv2d: expected 4-D input and weight, got ${formatShape(x.shape)} and ${formatShape(weight.shape)}`,
    );
  }
  const [n, cIn, h, w] = x.shape;
  const [cOut, cPerGroup, kh, kw] = weight.shape;
  const groups = options.groups ?? 1;
  const [strideH, strideW] = pair(options.stride ?? 1, 'stride');
  const [dilationH, dilationW] = pair(options.dilation ?? 1, 'dilation');
  const padding = options.padding ?? 0;
  const [padTop, padBottom, padLeft, padRight] =
    typeof padding === 'number'
      ? [padding, padding, padding, padding]
      : padding.length === 2
        ? [padding[0], padding[0], padding[1], padding[1]]
        : padding;
  if (![padTop, padBottom, padLeft, padRight].every((v) => Number.isInteger(v) && v >= 0)) {
    throw new Error(`conv2d: padding must be 1, 2 or 4 non-negative integers, got ${JSON.stringify(padding)}`);
  }
  if (strideH < 1 || strideW < 1 || dilationH < 1 || dilationW < 1)
    throw new Error('conv2d: stride and dilation must be >= 1');
  if (
    !Number.isInteger(groups) ||
    groups < 1 ||
    cIn % groups !== 0 ||
    cOut % groups !== 0 ||
    cPerGroup !== cIn / groups
  ) {
    throw new Error(
      `conv2d: input ${formatShape(x.shape)} and weight ${formatShape(weight.shape)} do not fit groups=${groups}`,
    );
  }
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== cOut)) {
    throw new Error(`conv2d: bias ${formatShape(bias.shape)} does not match ${cOut} output channels`);
  }
  const outH = Math.floor((h + padTop + padBottom - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((w + padLeft + padRight - dilationW * (kw - 1) - 1) / strideW) + 1;
  if (outH < 1 || outW < 1) {
    throw new Error(`conv2d: a ${kh}x${kw} kernel does not fit input ${formatShape(x.shape)} with this padding`);
  }
  const p: Conv2dParams = {
    n,
    cIn,
    h,
    w,
    cOut,
    kh,
    kw,
    strideH,
    strideW,
    padTop,
    padLeft,
    dilationH,
    dilationW,
    groups,
    outH,
    outW,
  };
  const out = new Tensor(allocate(n * cOut * outH * outW), [n, cOut, outH, outW]);
  getBackend().conv2d(x.data, weight.data, bias?.data ?? null, out.data, p);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(out, 'conv2d', inputs, (gy) => {
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    if (needsGrad(x)) {
      gx = new Tensor(allocate(x.size), x.shape);
      getBackend().conv2dGradInput(gy.data, weight.data, gx.data, p);
    }
    if (needsGrad(weight)) {
      gw = new Tensor(allocate(weight.size), weight.shape);
      getBackend().conv2dGradWeight(x.data, gy.data, gw.data, p);
    }
    const gb = bias !== null && needsGrad(bias) ? sum(gy, [0, 2, 3]) : null;
    return [gx, gw, gb];
  });
}

function planesOf(x: Tensor, op: string): [number, number, number] {
  if (x.rank < 2) throw new Error(`${op}: expected an input of rank >= 2 ([..., H, W]), got ${formatShape(x.shape)}`);
  const [h, w] = x.shape.slice(-2);
  return [x.size / (h * w), h, w];
}

/** Nearest-neighbour upsampling of [..., H, W] by integer factors. */
export function upsampleNearest(x: Tensor, scale: number | [number, number] = 2): Tensor {
  const [sh, sw] = typeof scale === 'number' ? [scale, scale] : scale;
  if (!Number.isInteger(sh) || !Number.isInteger(sw) || sh < 1 || sw < 1) {
    throw new Error(`upsampleNearest: scale factors must be positive integers, got ${String(scale)}`);
  }
  const [planes, h, w] = planesOf(x, 'upsampleNearest');
  const shape = [...x.shape.slice(0, -2), h * sh, w * sw];
  const out = new Tensor(allocate(x.size * sh * sw), shape);
  getBackend().upsampleNearest(x.data, out.data, planes, h, w, sh, sw);
  return record(out, 'upsampleNearest', [x], (gy) => {
    const gx = new Tensor(allocate(x.size), x.shape);
    getBackend().upsampleNearestGrad(gy.data, gx.data, planes, h, w, sh, sw);
    return [gx];
  });
}

/** Average pooling of [..., H, W] with a square window, no padding, floor mode. */
export function avgPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  if (!Number.isInteger(kernel) || !Number.isInteger(stride) || kernel < 1 || stride < 1) {
    throw new Error(`avgPool2d: kernel and stride must be positive integers, got ${kernel} and ${stride}`);
  }
  const [planes, h, w] = planesOf(x, 'avgPool2d');
  if (h < kernel || w < kernel)
    throw new Error(`avgPool2d: window ${kernel} is larger than input ${formatShape(x.shape)}`);
  const outH = Math.floor((h - kernel) / stride) + 1;
  const outW = Math.floor((w - kernel) / stride) + 1;
  const out = new Tensor(new Float32Array(planes * outH * outW), [...x.shape.slice(0, -2), outH, outW]);
  getBackend().avgPool2d(x.data, out.data, planes, h, w, kernel, stride);
  return record(out, 'avgPool2d', [x], (gy) => {
    const gx = new Tensor(new Float32Array(x.size), x.shape);
    getBackend().avgPool2dGrad(gy.data, gx.data, planes, h, w, kernel, stride);
    return [gx];
  });
}
