// Scaled dot-product attention with heads packed in the channel axis (see AttentionParams).
// Per batch b, head h and query row i, with S_ij = scale * q_i . k_j:
//   lse_i = log sum_j exp(S_ij),  P_ij = exp(S_ij - lse_i),  out_i = sum_j P_ij v_j
// The backward recomputes P from lse instead of storing the [tq, tk] matrix:
//   dP_ij = gOut_i . v_j,  D_i = gOut_i . out_i (= sum_j P_ij dP_ij),  dS_ij = P_ij (dP_ij - D_i)
//   gq_i = scale * sum_j dS_ij k_j,  gk_j = scale * sum_i dS_ij q_i,  gv_j = sum_i P_ij gOut_i
import type { AttentionParams } from '../../backend.js';
import type { Floats } from './floats.js';

/** Element offsets of head h's slices in the packed [batch, t, heads * width] tensors. */
function headLayout(p: AttentionParams, b: number, h: number) {
  const qkWidth = p.heads * p.d;
  const vWidth = p.heads * p.dv;
  return {
    qRow: (i: number) => (b * p.tq + i) * qkWidth + h * p.d,
    kRow: (j: number) => (b * p.tk + j) * qkWidth + h * p.d,
    vRow: (j: number) => (b * p.tk + j) * vWidth + h * p.dv,
    outRow: (i: number) => (b * p.tq + i) * vWidth + h * p.dv,
    lseIndex: (i: number) => (b * p.heads + h) * p.tq + i,
  };
}

/** scores[j] = scale * q_i . k_j for one query row. */
function scoreRow(
  q: Floats,
  k: Floats,
  qStart: number,
  kRow: (j: number) => number,
  scores: Float64Array,
  p: AttentionParams,
): void {
  for (let j = 0; j < p.tk; j++) {
    const kStart = kRow(j);
    let dot = 0;
    for (let c = 0; c < p.d; c++) dot += q[qStart + c] * k[kStart + c];
    scores[j] = p.scale * dot;
  }
}

export function attention(q: Floats, k: Floats, v: Floats, out: Floats, lse: Floats, p: AttentionParams): void {
  const scores = new Float64Array(p.tk);
  const outRow = new Float64Array(p.dv);
  for (let b = 0; b < p.batch; b++) {
    for (let h = 0; h < p.heads; h++) {
      const at = headLayout(p, b, h);
      for (let i = 0; i < p.tq; i++) {
        scoreRow(q, k, at.qRow(i), at.kRow, scores, p);
        let max = -Infinity;
        for (let j = 0; j < p.tk; j++) max = Math.max(max, scores[j]);
        let sum = 0;
        for (let j = 0; j < p.tk; j++) {
          scores[j] = Math.exp(scores[j] - max);
          sum += scores[j];
        }
        outRow.fill(0);
        for (let j = 0; j < p.tk; j++) {
          const weight = scores[j] / sum;
          const vStart = at.vRow(j);
          for (let c = 0; c < p.dv; c++) outRow[c] += weight * v[vStart + c];
        }
        out.set(outRow, at.outRow(i));
        lse[at.lseIndex(i)] = max + Math.log(sum);
      }
    }
  }
}

export function attentionGrad(
  q: Floats,
  k: Floats,
  v: Floats,
  out: Floats,
  lse: Floats,
  gOut: Floats,
  gq: Floats,
  gk: Floats,
  gv: Floats,
  p: AttentionParams,
): void {
  const scores = new Float64Array(p.tk);
  const gqRow = new Float64Array(p.d);
  const gkHead = new Float64Array(p.tk * p.d); // [tk, d] for one head, accumulated over queries
  const gvHead = new Float64Array(p.tk * p.dv);
  for (let b = 0; b < p.batch; b++) {
    for (let h = 0; h < p.heads; h++) {
      const at = headLayout(p, b, h);
      gkHead.fill(0);
      gvHead.fill(0);
      for (let i = 0; i < p.tq; i++) {
        const qStart = at.qRow(i);
        const gOutStart = at.outRow(i);
        scoreRow(q, k, qStart, at.kRow, scores, p);
        const rowLse = lse[at.lseIndex(i)];
        let rowDot = 0; // D_i
        for (let c = 0; c < p.dv; c++) rowDot += gOut[gOutStart + c] * out[gOutStart + c];
        gqRow.fill(0);
        for (let j = 0; j < p.tk; j++) {
          const prob = Math.exp(scores[j] - rowLse);
          const vStart = at.vRow(j);
          let gProb = 0; // dP_ij
          for (let c = 0; c < p.dv; c++) {
            gProb += gOut[gOutStart + c] * v[vStart + c];
            gvHead[j * p.dv + c] += prob * gOut[gOutStart + c];
          }
          const gScore = p.scale * prob * (gProb - rowDot); // scale * dS_ij
          const kStart = at.kRow(j);
          for (let c = 0; c < p.d; c++) {
            gqRow[c] += gScore * k[kStart + c];
            gkHead[j * p.d + c] += gScore * q[qStart + c];
          }
        }
        gq.set(gqRow, qStart);
      }
      for (let j = 0; j < p.tk; j++) {
        gk.set(gkHead.subarray(j * p.d, (j + 1) * p.d), at.kRow(j));
        gv.set(gvHead.subarray(j * p.dv, (j + 1) * p.dv), at.vRow(j));
      }
    }
  }
}
