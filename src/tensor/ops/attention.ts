// Scaled dot-product attention as one fused op (flash-attention style kernels).
import { record } from '../autograd.js';
import { getBackend } from '../device.js';
import { allocate } from '../memory.js';
import { formatShape } from '../shape.js';
import { Tensor } from '../tensor.js';

export interface AttentionOptions {
  /** Number of heads packed in the channel axis (default 1). */
  heads?: number;
  /** Score scale (default 1 / sqrt(head dim)). */
  scale?: number;
}

/**
 * softmax(scale * q k^T) v per head, for q [B, Tq, H*D], k [B, Tk, H*D], v [B, Tk, H*Dv]
 * (heads packed in the channel axis, as linear projections produce them); returns
 * [B, Tq, H*Dv]. The full attention matrix is never stored: the backward recomputes it
 * from the saved row log-sum-exps.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const heads = options.heads ?? 1;
  const shapes = `q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)}`;
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3) throw new Error(`attention: expected 3-D q, k, v; got ${shapes}`);
  const [batch, tq, qc] = q.shape;
  const [kb, tk, kc] = k.shape;
  const [vb, tv, vc] = v.shape;
  if (kb !== batch || vb !== batch || tv !== tk || kc !== qc) throw new Error(`attention: mismatched ${shapes}`);
  if (!Number.isInteger(heads) || heads < 1 || qc % heads !== 0 || vc % heads !== 0) {
    throw new Error(`attention: ${heads} heads do not divide the channels of ${shapes}`);
  }
  const d = qc / heads;
  const dv = vc / heads;
  const p = { batch, heads, tq, tk, d, dv, scale: options.scale ?? 1 / Math.sqrt(d) };
  const out = new Tensor(allocate(batch * tq * vc), [batch, tq, vc]);
  const lse = new Float32Array(batch * heads * tq);
  getBackend().attention(q.data, k.data, v.data, out.data, lse, p);
  return record(out, 'attention', [q, k, v], (gy) => {
    const gq = new Tensor(allocate(q.size), q.shape);
    const gk = new Tensor(allocate(k.size), k.shape);
    const gv = new Tensor(allocate(v.size), v.shape);
    getBackend().attentionGrad(q.data, k.data, v.data, out.data, lse, gy.data, gq.data, gk.data, gv.data, p);
    return [gq, gk, gv];
  });
}
