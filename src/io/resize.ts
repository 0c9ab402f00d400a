// Image resizing and cropping on planar [C, H, W] data (and [N, C, H, W] tensors).
// Resizing is separable: each axis gets a table of input taps and weights per output pixel,
// applied along the width, then along the height.
// - 'area': the exact box filter, each output pixel the coverage-weighted mean of the input pixels
//   it overlaps (OpenCV INTER_AREA when shrinking); for integer factors (64 -> 32) it is the plain
//   mean of each 2x2 block, i.e. PyTorch's F.interpolate(mode='area').
// - 'bilinear': PyTorch's F.interpolate(mode='bilinear', align_corners=False, antialias=False),
//   half-pixel centres, edges clamped.
// - 'auto' (default): 'area' along an axis that shrinks, 'bilinear' along one that grows.
import { Tensor } from '../tensor/tensor.js';

export type ResizeMode = 'auto' | 'area' | 'bilinear';

/** Where each output pixel along one axis reads: `taps` weights from input index `start[i]` on. */
interface AxisTaps {
  start: Int32Array;
  /** [outSize, taps] weights; unused trailing taps are 0. */
  weights: Float64Array;
  taps: number;
}

function axisTaps(inSize: number, outSize: number, mode: ResizeMode): AxisTaps {
  const scale = inSize / outSize;
  const useArea = mode === 'area' || (mode === 'auto' && outSize <= inSize);
  const taps = useArea ? Math.ceil(scale) + 1 : 2;
  const start = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    if (useArea) {
      const lo = i * scale;
      const hi = Math.min((i + 1) * scale, inSize);
      const first = Math.floor(lo);
      start[i] = first;
      for (let j = first; j < hi && j - first < taps; j++) {
        weights[i * taps + j - first] = (Math.min(hi, j + 1) - Math.max(lo, j)) / scale;
      }
    } else {
      const source = Math.max(0, (i + 0.5) * scale - 0.5);
      const j0 = Math.min(Math.floor(source), inSize - 1);
      const frac = j0 < inSize - 1 ? source - j0 : 0;
      start[i] = j0;
      weights[i * taps] = 1 - frac;
      weights[i * taps + 1] = frac;
    }
  }
  return { start, weights, taps };
}

/**
 * Resizes `planes` images of [height, width] stored back to back (e.g. the channels of one image)
 * into `out` ([planes, outHeight, outWidth]). A Uint8ClampedArray `out` rounds and clamps to 0..255.
 */
export function resizePlanes<T extends Float32Array | Uint8ClampedArray>(
  src: ArrayLike<number>,
  planes: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
  mode: ResizeMode,
  out: T,
): T {
  checkSize('resize', outHeight, outWidth);
  if (src.length !== planes * height * width) {
    throw new Error(`resize: ${src.length} values do not fill ${planes} planes of ${height}x${width}`);
  }
  if (out.length !== planes * outHeight * outWidth) {
    throw new Error(`resize: output holds ${out.length} values, expected ${planes}x${outHeight}x${outWidth}`);
  }
  const across = axisTaps(width, outWidth, mode);
  const down = axisTaps(height, outHeight, mode);
  const rows = new Float64Array(height * outWidth); // one plane resized along the width
  for (let p = 0; p < planes; p++) {
    const planeStart = p * height * width;
    for (let y = 0; y < height; y++) {
      const rowStart = planeStart + y * width;
      for (let x = 0; x < outWidth; x++) {
        let sum = 0;
        const first = across.start[x];
        for (let k = 0; k < across.taps && first + k < width; k++) {
          sum += across.weights[x * across.taps + k] * src[rowStart + first + k];
        }
        rows[y * outWidth + x] = sum;
      }
    }
    const outStart = p * outHeight * outWidth;
    for (let y = 0; y < outHeight; y++) {
      const first = down.start[y];
      for (let x = 0; x < outWidth; x++) {
        let sum = 0;
        for (let k = 0; k < down.taps && first + k < height; k++) {
          sum += down.weights[y * down.taps + k] * rows[(first + k) * outWidth + x];
        }
        out[outStart + y * outWidth + x] = sum;
      }
    }
  }
  return out;
}

/** Copies the window [top, top + outHeight) x [left, left + outWidth) out of each plane. */
export function cropPlanes<T extends Float32Array | Uint8Array | Uint8ClampedArray>(
  src: T,
  planes: number,
  height: number,
  width: number,
  top: number,
  left: number,
  outHeight: number,
  outWidth: number,
): T {
  checkSize('crop', outHeight, outWidth);
  if (top < 0 || left < 0 || top + outHeight > height || left + outWidth > width || !Number.isInteger(top + left)) {
    throw new Error(
      `crop: window ${outHeight}x${outWidth} at (top ${top}, left ${left}) does not fit an image of ${height}x${width}`,
    );
  }
  const out = new (src.constructor as new (length: number) => T)(planes * outHeight * outWidth);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < outHeight; y++) {
      const from = p * height * width + (top + y) * width + left;
      out.set(src.subarray(from, from + outWidth), (p * outHeight + y) * outWidth);
    }
  }
  return out;
}

/** The [height, width] that scales the shorter side to `size`, keeping the aspect ratio. */
export function shorterSideSize(height: number, width: number, size: number): [number, number] {
  const scale = size / Math.min(height, width);
  return [Math.max(size, Math.round(height * scale)), Math.max(size, Math.round(width * scale))];
}

/** Top-left corner of a centred window (integer division, as albumentations' CenterCrop). */
export function centerOffset(length: number, window: number): number {
  return Math.floor((length - window) / 2);
}

function checkSize(op: string, height: number, width: number): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`${op}: output size ${height}x${width} must be positive integers`);
  }
}

/** [planes, height, width] of a [C, H, W] or [N, C, H, W] image tensor. */
function planesOf(images: Tensor, op: string): [number, number, number] {
  const { shape } = images;
  if (shape.length !== 3 && shape.length !== 4) {
    throw new Error(`${op}: expected images [C, H, W] or [N, C, H, W], got [${shape.join(', ')}]`);
  }
  const height = shape[shape.length - 2];
  const width = shape[shape.length - 1];
  return [images.size / (height * width), height, width];
}

function sizePair(size: number | readonly [number, number]): [number, number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

/** Resizes images [C, H, W] or [N, C, H, W] to `size` ([height, width], or one number for a square). */
export function resize(images: Tensor, size: number | readonly [number, number], mode: ResizeMode = 'auto'): Tensor {
  const [planes, height, width] = planesOf(images, 'resize');
  const [outHeight, outWidth] = sizePair(size);
  const out = resizePlanes(
    images.data,
    planes,
    height,
    width,
    outHeight,
    outWidth,
    mode,
    new Float32Array(planes * outHeight * outWidth),
  );
  return new Tensor(out, [...images.shape.slice(0, -2), outHeight, outWidth]);
}

/** Crops images [C, H, W] or [N, C, H, W] to the window at (top, left) of `size`. */
export function crop(images: Tensor, top: number, left: number, size: number | readonly [number, number]): Tensor {
  const [planes, height, width] = planesOf(images, 'crop');
  const [outHeight, outWidth] = sizePair(size);
  const out = cropPlanes(images.data, planes, height, width, top, left, outHeight, outWidth);
  return new Tensor(out, [...images.shape.slice(0, -2), outHeight, outWidth]);
}

/** Crops the centred window of `size` (offsets rounded down). */
export function centerCrop(images: Tensor, size: number | readonly [number, number]): Tensor {
  const [, height, width] = planesOf(images, 'centerCrop');
  const [outHeight, outWidth] = sizePair(size);
  return crop(images, centerOffset(height, outHeight), centerOffset(width, outWidth), [outHeight, outWidth]);
}

/** Scales the shorter side to `size`, then crops the centred size x size square (LDM's data pipeline). */
export function resizeCenterCrop(images: Tensor, size: number, mode: ResizeMode = 'auto'): Tensor {
  const [, height, width] = planesOf(images, 'resizeCenterCrop');
  return centerCrop(resize(images, shorterSideSize(height, width, size), mode), size);
}
