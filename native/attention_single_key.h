// Attention to a single key (tk = 1): the U-Net's cross-attention to a class context of one
// token. The softmax over one score is exactly 1 wherever the score is finite, so
//   out_i = v,  lse_i = s_i = scale q_i . k,
// and in the backward (FlashAttention-2 formulas, as in attention.cc) P = 1 and
// dS = P (dP - D) = gOut_i . v - gOut_i . out_i = 0, so
//   gq = 0,  gk = 0,  gv = sum_i gOut_i.
// A non-finite score gives NaN, as the general kernel's exp(s - max) does. The general
// kernels spend their time packing GEMM operands of one row here. Included by attention.cc only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "common.h"

namespace ldm {
namespace single_key {

// Element offsets of the (batch, head) pair's slices: q (and gq, out, gOut) rows start at
// queries + t * qStride (out: + t * outStride), and the one key / value row at key / value.
struct Pair {
  int64_t queries, outputs, key, value;
};

inline Pair PairAt(int64_t pair, int64_t heads, int64_t tq, int64_t d, int64_t dv) {
  const int64_t b = pair / heads, h = pair % heads;
  return Pair{b * tq * heads * d + h * d, b * tq * heads * dv + h * dv, b * heads * d + h * d,
              b * heads * dv + h * dv};
}

inline void Forward(int64_t batch, int64_t heads, int64_t tq, int64_t d, int64_t dv, float scale, const float* q,
                    const float* k, const float* v, float* out, float* lse, int threads) {
  const int64_t qStride = heads * d, outStride = heads * dv;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t pair = 0; pair < batch * heads; pair++) {
    const Pair at = PairAt(pair, heads, tq, d, dv);
    const float* key = k + at.key;
    const float* value = v + at.value;
    for (int64_t i = 0; i < tq; i++) {
      const float* qRow = q + at.queries + i * qStride;
      float dot = 0.0f;
      for (int64_t c = 0; c < d; c++) dot += qRow[c] * key[c];
      const float score = scale * dot;
      float* outRow = out + at.outputs + i * outStride;
      if (std::isfinite(score)) {
        std::copy(value, value + dv, outRow);
        lse[pair * tq + i] = score;
      } else {
        std::fill(outRow, outRow + dv, std::numeric_limits<float>::quiet_NaN());
        lse[pair * tq + i] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
}

inline void Backward(int64_t batch, int64_t heads, int64_t tq, int64_t d, int64_t dv, const float* lse,
                     const float* gOut, float* gq, float* gk, float* gv, int threads) {
  const int64_t qStride = heads * d, outStride = heads * dv;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t pair = 0; pair < batch * heads; pair++) {
    const Pair at = PairAt(pair, heads, tq, d, dv);
    float* gvRow = gv + at.value;
    std::fill(gvRow, gvRow + dv, 0.0f);
    // A non-finite score made its row of the forward NaN; the general kernel's gradients of
    // that row, and the key and value gradients they sum into, are NaN too.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    bool finite = true;
    for (int64_t i = 0; i < tq; i++) {
      const float* gRow = gOut + at.outputs + i * outStride;
#pragma omp simd
      for (int64_t c = 0; c < dv; c++) gvRow[c] += gRow[c];
      const bool rowFinite = std::isfinite(lse[pair * tq + i]);
      float* gqRow = gq + at.queries + i * qStride;
      std::fill(gqRow, gqRow + d, rowFinite ? 0.0f : nan);
      finite = finite && rowFinite;
    }
    std::fill(gk + at.key, gk + at.key + d, finite ? 0.0f : nan);
    if (!finite) std::fill(gvRow, gvRow + dv, nan);
  }
}

}  // namespace single_key
}  // namespace ldm
