// The reductions of the normalisation kernels (norm.cc): sums over a row or a group in float
// vector lanes, folded into double block by block. Float lanes run at full vector width and
// need no conversions; bounding each float sum to one block keeps the rounding error of a
// long group that of a block, and statistics stay two-pass (a first mean, then sums of the
// deviations from it) so that a large mean cannot cancel the variance away.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "vec.h"

// Vec16 values cross inlined lambdas only; the ABI note about them says nothing useful.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ldm {

// Elements summed in float (32 per lane at most) before the block's total joins a double.
constexpr int64_t kSumBlock = 1024;

typedef float Vec4 __attribute__((vector_size(16)));

// Pairwise sum of the 16 lanes.
inline float HorizontalSum(Vec16 v) {
  Vec8 half = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
              __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  Vec4 quarter = __builtin_shufflevector(half, half, 0, 1, 2, 3) + __builtin_shufflevector(half, half, 4, 5, 6, 7);
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

// The sums over count elements of K terms per element. terms(i, Vec16{}) gives the terms of
// elements i..i+15 as std::array<Vec16, K>, terms(i, 0.0f) those of element i alone: one
// generic lambda written once with Load<V> serves both.
template <int K, typename Terms>
std::array<double, K> BlockedSums(int64_t count, Terms terms) {
  std::array<double, K> totals{};
  for (int64_t start = 0; start < count; start += kSumBlock) {
    const int64_t end = std::min(count, start + kSumBlock);
    std::array<Vec16, K> even{}, odd{};  // two accumulator chains per term
    int64_t i = start;
    for (; i + 32 <= end; i += 32) {
      const std::array<Vec16, K> a = terms(i, Vec16{}), b = terms(i + 16, Vec16{});
      for (int k = 0; k < K; k++) even[k] += a[k], odd[k] += b[k];
    }
    if (i + 16 <= end) {
      const std::array<Vec16, K> a = terms(i, Vec16{});
      for (int k = 0; k < K; k++) even[k] += a[k];
      i += 16;
    }
    std::array<float, K> tail{};
    for (; i < end; i++) {
      const std::array<float, K> a = terms(i, 0.0f);
      for (int k = 0; k < K; k++) tail[k] += a[k];
    }
    for (int k = 0; k < K; k++) totals[k] += HorizontalSum(even[k] + odd[k]) + tail[k];
  }
  return totals;
}

// Mean and reciprocal standard deviation (biased variance, as PyTorch) of count values. The
// deviations are taken from a first float mean; their own mean corrects both statistics, so
// the rounding of that first mean costs nothing.
inline void Moments(const float* x, int64_t count, double eps, float* mean, float* rstd) {
  const double firstMean = BlockedSums<1>(count, [&](int64_t i, auto lane) {
                             using V = decltype(lane);
                             return std::array<V, 1>{Load<V>(x + i)};
                           })[0] /
                           count;
  const float center = static_cast<float>(firstMean);
  const std::array<double, 2> sums = BlockedSums<2>(count, [&](int64_t i, auto lane) {
    using V = decltype(lane);
    const V deviation = Load<V>(x + i) - center;
    return std::array<V, 2>{deviation, deviation * deviation};
  });
  const double meanDeviation = sums[0] / count;
  const double variance = std::max(0.0, sums[1] / count - meanDeviation * meanDeviation);
  *mean = static_cast<float>(center + meanDeviation);
  *rstd = static_cast<float>(1.0 / std::sqrt(variance + eps));
}

// sum(g) and sum(g * (x - center)) with g = gy * weight: the two reductions every norm
// backward needs. The weight (layer norm's gamma) is per element; kWeighted false means 1.
template <bool kWeighted>
std::array<double, 2> GradSums(const float* x, const float* gy, const float* weight, int64_t count, float center) {
  return BlockedSums<2>(count, [&](int64_t i, auto lane) {
    using V = decltype(lane);
    const V g = kWeighted ? Load<V>(gy + i) * Load<V>(weight + i) : Load<V>(gy + i);
    return std::array<V, 2>{g, g * (Load<V>(x + i) - center)};
  });
}

// Rows short enough, and a whole number of vectors long, are reduced up to 16 at a time: one
// row's sums then cost a few lanes of a shared transpose instead of a horizontal sum each, and
// the rows' chains overlap. Layer norm's rows (32 to 128 channels) and the U-Net's small
// groups are mostly this short. Their sums and statistics stay in float: a lane adds at most
// 16 terms before the pairwise fold, and the deviations are still taken from a first mean.
// Every lane goes through the same operations, so a row's results do not depend on which
// rows, or how many, share its batch: the last batch of a run, shorter, repeats its last row.
constexpr int64_t kBatchRows = 16;
constexpr int64_t kMaxBatchedCols = 256;

inline bool Batchable(int64_t cols) { return cols > 0 && cols % 16 == 0 && cols <= kMaxBatchedCols; }

// Stores the first count (1 to 16) lanes of v.
inline void StoreFirst(float* p, Vec16 v, int64_t count) { std::memcpy(p, &v, count * sizeof(float)); }

// Lane r of the result is the sum of the lanes of rows[r]: a 16 x 16 transpose with its
// additions folded in, halving the lanes per row each round. Overwrites rows.
inline Vec16 SumEach16(Vec16* rows) {
  for (int k = 0; k < 8; k++) {  // rows 2k, 2k + 1: 8 lanes each
    const Vec16 a = rows[2 * k], b = rows[2 * k + 1];
    rows[k] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
              __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
  for (int k = 0; k < 4; k++) {  // rows 4k .. 4k + 3: 4 lanes each
    const Vec16 a = rows[2 * k], b = rows[2 * k + 1];
    rows[k] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
              __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  for (int k = 0; k < 2; k++) {  // rows 8k .. 8k + 7: 2 lanes each
    const Vec16 a = rows[2 * k], b = rows[2 * k + 1];
    rows[k] = __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
              __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  }
  return Even(rows[0], rows[1]) + Odd(rows[0], rows[1]);
}

// 1 / sqrt(v) per lane, with the correctly rounded square root and division of scalar code.
inline Vec16 ReciprocalSqrt(Vec16 v) {
  Vec16 r;
  for (int i = 0; i < 16; i++) r[i] = 1.0f / std::sqrt(v[i]);
  return r;
}

// Moments of count rows (1 to 16) of cols values (Batchable), row r at x + r * stride, as
// Moments.
inline void BatchMoments(const float* x, int64_t count, int64_t stride, int64_t cols, double eps, float* mean,
                         float* rstd) {
  Vec16 sums[kBatchRows], deviationSums[kBatchRows], squareSums[kBatchRows];
  for (int64_t r = 0; r < kBatchRows; r++) {
    const float* row = x + std::min(r, count - 1) * stride;
    Vec16 sum = {};
    for (int64_t i = 0; i < cols; i += 16) sum += Load<Vec16>(row + i);
    sums[r] = sum;
  }
  const Vec16 center = SumEach16(sums) / static_cast<float>(cols);
  for (int64_t r = 0; r < kBatchRows; r++) {
    const float* row = x + std::min(r, count - 1) * stride;
    Vec16 sum = {}, squares = {};
    for (int64_t i = 0; i < cols; i += 16) {
      const Vec16 deviation = Load<Vec16>(row + i) - center[r];
      sum += deviation;
      squares += deviation * deviation;
    }
    deviationSums[r] = sum;
    squareSums[r] = squares;
  }
  const Vec16 meanDeviation = SumEach16(deviationSums) / static_cast<float>(cols);
  Vec16 variance = SumEach16(squareSums) / static_cast<float>(cols) - meanDeviation * meanDeviation;
  variance = variance > 0.0f ? variance : Vec16{};
  StoreFirst(mean, center + meanDeviation, count);
  StoreFirst(rstd, ReciprocalSqrt(variance + static_cast<float>(eps)), count);
}

// GradSums of count rows (1 to 16) of cols values (Batchable), row r at offset r * stride of x
// and gy and centred on center[r]; the weight, when there is one, is the same for every row.
// Lane r of the results holds row r's sums (lanes from count on repeat the last row's).
template <bool kWeighted>
std::array<Vec16, 2> BatchGradSums(const float* x, const float* gy, int64_t count, int64_t stride, const float* weight,
                                   int64_t cols, const float* center) {
  Vec16 gradSums[kBatchRows], centeredSums[kBatchRows];
  for (int64_t r = 0; r < kBatchRows; r++) {
    const int64_t row = std::min(r, count - 1);
    Vec16 sumG = {}, sumGX = {};
    for (int64_t i = 0; i < cols; i += 16) {
      const Vec16 g = kWeighted ? Load<Vec16>(gy + row * stride + i) * Load<Vec16>(weight + i)
                                : Load<Vec16>(gy + row * stride + i);
      sumG += g;
      sumGX += g * (Load<Vec16>(x + row * stride + i) - center[row]);
    }
    gradSums[r] = sumG;
    centeredSums[r] = sumGX;
  }
  return {SumEach16(gradSums), SumEach16(centeredSums)};
}

}  // namespace ldm

#pragma GCC diagnostic pop
