// SSIM as a loss: 1 - mean SSIM per sample (Wang et al., "Image Quality Assessment: From Error
// Visibility to Structural Similarity", IEEE TIP 2004; as a training loss: Zhao et al., "Loss
// Functions for Image Restoration with Neural Networks", IEEE TCI 2017). The default perceptual
// term of the first-stage losses: it needs no pretrained weights, and its contrast and structure
// factors compare local variance and correlation, which blur lowers even where L1 barely moves.
// See docs/decisions/004-perceptual-loss.md.
import { Module } from '../../nn/module.js';
import { conv2d } from '../../tensor/ops/conv.js';
import { add, div, mul, sub } from '../../tensor/ops/elementwise.js';
import { mean } from '../../tensor/ops/reduce.js';
import { concat } from '../../tensor/ops/shape-ops.js';
import { formatShape, shapesEqual } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

export interface SSIMLossOptions {
  /** Side of the Gaussian window (odd); shrunk to the image when the image is smaller. Default 11. */
  windowSize?: number;
  /** Standard deviation of the Gaussian window in pixels. Default 1.5. */
  sigma?: number;
  /** Value range of the images: 2 for [-1, 1], the autoencoders' range. Default 2. */
  dataRange?: number;
}

// Stabilising constants of Wang et al. (2004): C1 = (K1 L)^2, C2 = (K2 L)^2.
const K1 = 0.01;
const K2 = 0.03;

export class SSIMLoss extends Module {
  readonly windowSize: number;
  readonly sigma: number;
  readonly dataRange: number;

  constructor({ windowSize = 11, sigma = 1.5, dataRange = 2 }: SSIMLossOptions = {}) {
    super();
    if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize % 2 === 0) {
      throw new Error(`SSIMLoss: windowSize must be a positive odd integer, got ${windowSize}`);
    }
    if (!(sigma > 0) || !(dataRange > 0)) {
      throw new Error(`SSIMLoss: sigma and dataRange must be positive, got ${sigma} and ${dataRange}`);
    }
    this.windowSize = windowSize;
    this.sigma = sigma;
    this.dataRange = dataRange;
  }

  /** 1 - SSIM(x, xHat) averaged over channels and positions: [N, 1, 1, 1], 0 for identical images. */
  forward(x: Tensor, xHat: Tensor): Tensor {
    if (x.rank !== 4 || !shapesEqual(x.shape, xHat.shape)) {
      throw new Error(
        `SSIMLoss: expected two images [N, C, H, W] of one shape, got ${formatShape(x.shape)} and ${formatShape(xHat.shape)}`,
      );
    }
    const [n, c, h, w] = x.shape;
    const planes = [n * c, 1, h, w];
    const a = x.reshape(planes);
    const b = xHat.reshape(planes);
    // One blur for the five local moments: E[a], E[b], E[a^2], E[b^2], E[ab] (valid windows).
    const moments = this.#blur(concat([a, b, mul(a, a), mul(b, b), mul(a, b)], 0));
    const [muA, muB, aa, bb, ab] = moments.chunk(5, 0);
    const muAB = mul(muA, muB);
    const muA2 = mul(muA, muA);
    const muB2 = mul(muB, muB);
    const varA = sub(aa, muA2);
    const varB = sub(bb, muB2);
    const covAB = sub(ab, muAB);
    const c1 = (K1 * this.dataRange) ** 2;
    const c2 = (K2 * this.dataRange) ** 2;
    const numerator = mul(add(mul(muAB, 2), c1), add(mul(covAB, 2), c2));
    const denominator = mul(add(add(muA2, muB2), c1), add(add(varA, varB), c2));
    const ssimMap = div(numerator, denominator); // [N*C, 1, h', w']
    const perSample = mean(ssimMap.reshape([n, -1]), 1, true); // [N, 1]
    return perSample.neg().add(1).reshape([n, 1, 1, 1]);
  }

  /** Separable Gaussian filter without padding over [P, 1, H, W]. */
  #blur(planes: Tensor): Tensor {
    const [, , h, w] = planes.shape;
    const kh = Math.min(this.windowSize, oddAtMost(h));
    const kw = Math.min(this.windowSize, oddAtMost(w));
    const rows = conv2d(planes, gaussianWindow(kw, this.sigma).reshape([1, 1, 1, kw]));
    return conv2d(rows, gaussianWindow(kh, this.sigma).reshape([1, 1, kh, 1]));
  }

  override extraRepr(): string {
    return `windowSize=${this.windowSize}, sigma=${this.sigma}, dataRange=${this.dataRange}`;
  }
}

function oddAtMost(n: number): number {
  return n % 2 === 1 ? n : n - 1;
}

/** A normalised 1-D Gaussian of `size` taps. */
export function gaussianWindow(size: number, sigma: number): Tensor {
  const centre = (size - 1) / 2;
  const taps = Array.from({ length: size }, (_, i) => Math.exp(-((i - centre) ** 2) / (2 * sigma * sigma)));
  const total = taps.reduce((s, v) => s + v, 0);
  return Tensor.from(taps.map((v) => v / total));
}
