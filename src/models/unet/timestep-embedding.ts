// Sinusoidal timestep embedding (Vaswani et al. 2017, Sec. 3.5; Ho et al. 2020, App. B), in
// CompVis' layout: cosines first, then sines.
import { formatShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

/**
 * [N] timesteps -> [N, dim]: with half = floor(dim / 2) and f_i = exp(-ln(10000) i / half),
 * row n is [cos(t_n f_0) .. cos(t_n f_{half-1}), sin(t_n f_0) .. sin(t_n f_{half-1})], plus one
 * zero column when dim is odd. The arguments are formed in float64 (CompVis forms them in
 * float32; the two differ by float32 rounding of t f_i, under 1e-4 for t < 1000).
 */
export function timestepEmbedding(timesteps: Tensor, dim: number, maxPeriod = 10000): Tensor {
  if (timesteps.rank !== 1) {
    throw new Error(`timestepEmbedding: expected timesteps [N], got ${formatShape(timesteps.shape)}`);
  }
  if (!Number.isInteger(dim) || dim < 1)
    throw new Error(`timestepEmbedding: dim must be a positive integer, got ${dim}`);
  const n = timesteps.shape[0];
  const half = Math.floor(dim / 2);
  const frequencies = Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / half));
  const out = new Float32Array(n * dim);
  for (let row = 0; row < n; row++) {
    const t = timesteps.data[row];
    if (!Number.isFinite(t)) throw new Error(`timestepEmbedding: timestep ${row} is ${t}`);
    for (let i = 0; i < half; i++) {
      const angle = t * frequencies[i];
      out[row * dim + i] = Math.cos(angle);
      out[row * dim + half + i] = Math.sin(angle);
    }
  }
  return new Tensor(out, [n, dim]);
}
