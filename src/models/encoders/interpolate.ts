// F.interpolate(x, scale_factor=s, mode=...) for images [N, C, H, W], as a pair of resampling
// matrices (one per axis): y = R_h x R_w^T. Written as matmuls, it is differentiable for free.
// Index and weight rules are PyTorch's (align_corners=False, antialias=False), with the output
// size floor(size * s) and source coordinates from the scale 1 / s.
import { matmul } from '../../tensor/ops/linalg.js';
import { formatShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

export const INTERPOLATION_MODES = ['nearest', 'bilinear', 'bicubic', 'area'] as const;
export type InterpolationMode = (typeof INTERPOLATION_MODES)[number];

/** Keys's cubic convolution kernel with a = -0.75 (PyTorch's bicubic), at distance |d| < 2. */
function cubicWeight(d: number): number {
  const a = -0.75;
  const x = Math.abs(d);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/** The [outSize, inSize] matrix that resamples one axis. */
export function resamplingMatrix(
  inSize: number,
  outSize: number,
  scaleFactor: number,
  mode: InterpolationMode,
): Tensor {
  const m = new Float64Array(outSize * inSize);
  const add = (row: number, column: number, weight: number): void => {
    m[row * inSize + Math.min(inSize - 1, Math.max(0, column))] += weight;
  };
  // PyTorch computes the source scale in float32 for float tensors; nearest indices depend on it.
  const scale = Math.fround(1 / scaleFactor);
  for (let i = 0; i < outSize; i++) {
    if (mode === 'nearest') {
      add(i, Math.floor(Math.fround(i * scale)), 1);
    } else if (mode === 'area') {
      // Adaptive average pooling: the window [floor(i in / out), ceil((i + 1) in / out)).
      const start = Math.floor((i * inSize) / outSize);
      const end = Math.ceil(((i + 1) * inSize) / outSize);
      for (let j = start; j < end; j++) add(i, j, 1 / (end - start));
    } else {
      const source = scale * (i + 0.5) - 0.5; // half-pixel centres
      if (mode === 'bilinear') {
        const s = Math.max(0, source);
        const j = Math.min(Math.floor(s), inSize - 1);
        const t = j < inSize - 1 ? s - j : 0;
        add(i, j, 1 - t);
        add(i, j + 1, t);
      } else {
        const j = Math.floor(source);
        const t = source - j;
        for (let k = -1; k <= 2; k++) add(i, j + k, cubicWeight(k - t));
      }
    }
  }
  return new Tensor(Float32Array.from(m), [outSize, inSize]);
}

/** x [N, C, H, W] -> [N, C, floor(H s), floor(W s)]. */
export function interpolate(x: Tensor, scaleFactor: number, mode: InterpolationMode): Tensor {
  if (x.rank !== 4) throw new Error(`interpolate: expected images [N, C, H, W], got ${formatShape(x.shape)}`);
  if (!(scaleFactor > 0 && Number.isFinite(scaleFactor))) {
    throw new Error(`interpolate: scale factor must be positive, got ${scaleFactor}`);
  }
  const [, , h, w] = x.shape;
  const outH = Math.floor(h * scaleFactor);
  const outW = Math.floor(w * scaleFactor);
  if (outH < 1 || outW < 1) {
    throw new Error(`interpolate: scale factor ${scaleFactor} leaves no pixels of ${formatShape(x.shape)}`);
  }
  const rows = resamplingMatrix(h, outH, scaleFactor, mode); // [outH, H]
  const columns = resamplingMatrix(w, outW, scaleFactor, mode).transpose(0, 1); // [W, outW]
  return matmul(rows, matmul(x, columns)); // [N, C, outH, outW]
}
