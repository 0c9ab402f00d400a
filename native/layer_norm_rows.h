// Layer norm's backward over a run of rows (norm.cc's LayerNormGrad): each row's two sums,
// then its gx and its terms of the gamma/beta gradients, added to float partials. Rows whose
// length allows it go 16 at a time through norm_sums.h's batched sums.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "norm_sums.h"
#include "vec.h"

// Vec16 values cross inlined calls only; the ABI note about them says nothing useful.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ldm {

// mean(g) and mean(g * xhat) with g = gamma * gy, for count rows (at most 16) of layer norm's
// backward, row r at offset r * cols.
template <bool kWeighted>
void LayerNormGradStats(const float* x, const float* gy, const float* gamma, const float* mean, const float* rstd,
                        int64_t count, int64_t cols, float* meanG, float* meanGXhat) {
  if (Batchable(cols)) {
    const float inverseCols = 1.0f / static_cast<float>(cols);
    const std::array<Vec16, 2> sums = BatchGradSums<kWeighted>(x, gy, count, cols, gamma, cols, mean);
    for (int64_t r = 0; r < count; r++) {
      meanG[r] = sums[0][r] * inverseCols;
      meanGXhat[r] = sums[1][r] * rstd[r] * inverseCols;
    }
    return;
  }
  for (int64_t r = 0; r < count; r++) {
    const std::array<double, 2> sums = GradSums<kWeighted>(x + r * cols, gy + r * cols, gamma, cols, mean[r]);
    meanG[r] = static_cast<float>(sums[0] / cols);
    meanGXhat[r] = static_cast<float>(sums[1] * rstd[r] / cols);
  }
}

// One row of layer norm's backward: gx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with
// g = gamma * gy, and (kAffineGrads) the row's gy * xhat and gy added to the float partials.
template <bool kWeighted, bool kAffineGrads>
void LayerNormGradRow(const float* __restrict x, const float* __restrict gy, const float* __restrict gamma, float mu,
                      float r, float meanG, float meanGXhat, int64_t cols, float* __restrict gx,
                      float* __restrict partialGamma, float* __restrict partialBeta) {
  for (int64_t j = 0; j < cols; j++) {
    const float xhat = (x[j] - mu) * r;
    const float g = kWeighted ? gamma[j] * gy[j] : gy[j];
    gx[j] = r * (g - meanG - xhat * meanGXhat);
    if (kAffineGrads) {
      partialGamma[j] += gy[j] * xhat;
      partialBeta[j] += gy[j];
    }
  }
}

// gx and the gamma/beta terms of count rows (at most 16; Batchable cols), as LayerNormGradRow.
// Four rows at a time share each column block's loads of gamma and the partials.
template <bool kWeighted, bool kAffineGrads>
void LayerNormGradBatch(const float* x, const float* gy, const float* gamma, const float* mu, const float* r,
                        const float* meanG, const float* meanGXhat, int64_t count, int64_t cols, float* gx,
                        float* partialGamma, float* partialBeta) {
  for (int64_t first = 0; first < count; first += 4) {
    for (int64_t j = 0; j < cols; j += 16) {
      const Vec16 w = kWeighted ? Load<Vec16>(gamma + j) : Vec16{} + 1.0f;
      Vec16 termsGamma = {}, termsBeta = {};
      for (int64_t i = first; i < std::min(count, first + 4); i++) {
        const Vec16 g = Load<Vec16>(gy + i * cols + j);
        const Vec16 xhat = (Load<Vec16>(x + i * cols + j) - mu[i]) * r[i];
        Store(gx + i * cols + j, r[i] * (g * w - meanG[i] - xhat * meanGXhat[i]));
        termsGamma += g * xhat;
        termsBeta += g;
      }
      if (kAffineGrads) {
        Store(partialGamma + j, Load<Vec16>(partialGamma + j) + termsGamma);
        Store(partialBeta + j, Load<Vec16>(partialBeta + j) + termsBeta);
      }
    }
  }
}

// A run of rows of layer norm's backward, in batches of 16, adding to partialGamma/Beta.
template <bool kWeighted, bool kAffineGrads>
void LayerNormGradRows(const float* x, const float* gy, const float* gamma, const float* mean, const float* rstd,
                       int64_t firstRow, int64_t endRow, int64_t cols, float* gx, float* partialGamma,
                       float* partialBeta) {
  for (int64_t batch = firstRow; batch < endRow; batch += kBatchRows) {
    const int64_t count = std::min(kBatchRows, endRow - batch);
    const int64_t at = batch * cols;
    // Fetch gx's lines for writing while the statistics are summed.
    for (int64_t k = 0; k < count * cols; k += 16) __builtin_prefetch(gx + at + k, 1);
    float meanG[kBatchRows], meanGXhat[kBatchRows];
    LayerNormGradStats<kWeighted>(x + at, gy + at, gamma, mean + batch, rstd + batch, count, cols, meanG, meanGXhat);
    if (Batchable(cols)) {
      LayerNormGradBatch<kWeighted, kAffineGrads>(x + at, gy + at, gamma, mean + batch, rstd + batch, meanG, meanGXhat,
                                                  count, cols, gx + at, partialGamma, partialBeta);
      continue;
    }
    for (int64_t i = 0; i < count; i++) {
      LayerNormGradRow<kWeighted, kAffineGrads>(x + at + i * cols, gy + at + i * cols, gamma, mean[batch + i],
                                                rstd[batch + i], meanG[i], meanGXhat[i], cols, gx + at + i * cols,
                                                partialGamma, partialBeta);
    }
  }
}

}  // namespace ldm

#pragma GCC diagnostic pop
