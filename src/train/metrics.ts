// Image-quality metrics of reconstructions, computed on images mapped from [-1, 1] to [0, 1]
// (values outside are clamped first, as they are when saved as pixels). Plain loops in double:
// metrics are outside autograd and cost little next to the model.
// - PSNR: 10 log10(1 / MSE) per image, data range 1.
// - SSIM (Wang, Bovik, Sheikh & Simoncelli, "Image Quality Assessment: From Error Visibility to
//   Structural Similarity", IEEE TIP 2004, eq. 13 with the Gaussian weighting of Sec. III-C):
//   an 11 x 11 Gaussian window of sigma 1.5 (normalised to sum 1), K1 = 0.01, K2 = 0.03, L = 1,
//   local statistics over every window that lies inside the image (the paper's 'valid'
//   filtering), the SSIM map averaged per channel, then over channels.
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export const SSIM_WINDOW_SIZE = 11;
export const SSIM_SIGMA = 1.5;
const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;
/** PSNR of a perfect reconstruction would be infinite; MSE is floored here (100 dB). */
const MIN_MSE = 1e-10;

/** One value per image, and their mean. */
export interface MetricValues {
  perImage: number[];
  mean: number;
}

/** The normalised 1-D Gaussian; the 2-D window is its outer product with itself. */
export function gaussianKernel1d(size = SSIM_WINDOW_SIZE, sigma = SSIM_SIGMA): Float64Array {
  const kernel = new Float64Array(size);
  const centre = (size - 1) / 2;
  let total = 0;
  for (let i = 0; i < size; i++) {
    kernel[i] = Math.exp(-((i - centre) ** 2) / (2 * sigma * sigma));
    total += kernel[i];
  }
  for (let i = 0; i < size; i++) kernel[i] /= total;
  return kernel;
}

/** Peak signal-to-noise ratio in dB of each reconstruction against its image ([N, C, H, W] in [-1, 1]). */
export function psnr(images: Tensor, reconstructions: Tensor): MetricValues {
  const [count, planeSize] = checkPair(images, reconstructions, 'psnr');
  const perImage: number[] = [];
  for (let n = 0; n < count; n++) {
    let squared = 0;
    for (let i = n * planeSize; i < (n + 1) * planeSize; i++) {
      const d = toUnit(images.data[i]) - toUnit(reconstructions.data[i]);
      squared += d * d;
    }
    perImage.push(10 * Math.log10(1 / Math.max(squared / planeSize, MIN_MSE)));
  }
  return { perImage, mean: average(perImage) };
}

/** Mean SSIM of each reconstruction against its image ([N, C, H, W] in [-1, 1], H and W >= 11). */
export function ssim(images: Tensor, reconstructions: Tensor): MetricValues {
  const [count] = checkPair(images, reconstructions, 'ssim');
  const [, channels, height, width] = images.shape;
  if (height < SSIM_WINDOW_SIZE || width < SSIM_WINDOW_SIZE) {
    throw new Error(
      `ssim: images ${formatShape(images.shape)} are smaller than the ${SSIM_WINDOW_SIZE} x ${SSIM_WINDOW_SIZE} window`,
    );
  }
  const kernel = gaussianKernel1d();
  const plane = height * width;
  const x = new Float64Array(plane);
  const y = new Float64Array(plane);
  const perImage: number[] = [];
  for (let n = 0; n < count; n++) {
    let total = 0;
    for (let c = 0; c < channels; c++) {
      const offset = (n * channels + c) * plane;
      for (let i = 0; i < plane; i++) {
        x[i] = toUnit(images.data[offset + i]);
        y[i] = toUnit(reconstructions.data[offset + i]);
      }
      total += ssimPlane(x, y, height, width, kernel);
    }
    perImage.push(total / channels);
  }
  return { perImage, mean: average(perImage) };
}

/** Mean of the SSIM map of one channel. */
function ssimPlane(x: Float64Array, y: Float64Array, height: number, width: number, kernel: Float64Array): number {
  const products = [x, y, map(x, x), map(y, y), map(x, y)];
  const [muX, muY, xx, yy, xy] = products.map((p) => filterValid(p, height, width, kernel));
  let total = 0;
  for (let i = 0; i < muX.length; i++) {
    const mx = muX[i];
    const my = muY[i];
    const varX = xx[i] - mx * mx;
    const varY = yy[i] - my * my;
    const cov = xy[i] - mx * my;
    total += ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx * mx + my * my + C1) * (varX + varY + C2));
  }
  return total / muX.length;
}

function map(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] * b[i];
  return out;
}

/** Separable 'valid' filtering with the window kernel x kernel: [H, W] -> [H - k + 1, W - k + 1]. */
function filterValid(plane: Float64Array, height: number, width: number, kernel: Float64Array): Float64Array {
  const k = kernel.length;
  const outW = width - k + 1;
  const outH = height - k + 1;
  const rows = new Float64Array(height * outW);
  for (let r = 0; r < height; r++) {
    for (let j = 0; j < outW; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += kernel[t] * plane[r * width + j + t];
      rows[r * outW + j] = s;
    }
  }
  const out = new Float64Array(outH * outW);
  for (let i = 0; i < outH; i++) {
    for (let j = 0; j < outW; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += kernel[t] * rows[(i + t) * outW + j];
      out[i * outW + j] = s;
    }
  }
  return out;
}

/** [-1, 1] -> [0, 1], clamped. */
function toUnit(value: number): number {
  return (Math.min(1, Math.max(-1, value)) + 1) / 2;
}

function average(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Checks two image batches of one shape; returns [N, values per image]. */
function checkPair(a: Tensor, b: Tensor, op: string): [number, number] {
  if (a.rank !== 4 || !shapesEqual(a.shape, b.shape) || a.shape[0] === 0) {
    throw new Error(
      `${op}: expected two non-empty image batches [N, C, H, W] of one shape, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
    );
  }
  return [a.shape[0], a.size / a.shape[0]];
}
