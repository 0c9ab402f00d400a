// Group and layer normalisation, forward and backward (see Backend.groupNorm / layerNorm in
// src/tensor/backend.ts). Statistics are two-pass (a mean, then sums of deviations from it),
// summed in float vector lanes folded into double per block (norm_sums.h), so a large mean
// does not cancel the variance away and long groups keep their precision. Each (n, group)
// or row is one task; the gamma/beta gradients, which sum over the batch, are reduced from
// per-(n, channel) or per-chunk partials in a fixed order, so results depend neither on
// thread timing nor on the thread count.
#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <vector>

#include "common.h"
#include "layer_norm_rows.h"
#include "norm_sums.h"
#include "scratch.h"

namespace ldm {
namespace {

// out[i] = (x[i] - center) * scale + shift: a whole affine normalisation of one channel
// folded. Centring first keeps the digits that a large mean would cancel in x * scale - c.
void CenterScaleShift(const float* x, float* out, int64_t count, float center, float scale, float shift) {
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) Store(out + i, (Load<Vec16>(x + i) - center) * scale + shift);
  for (; i < count; i++) out[i] = (x[i] - center) * scale + shift;
}

// gx[i] = a * gy[i] + centeredCoef * (x[i] - center) + shift: group norm's backward for one
// channel, its coefficients folded as in GroupNormGrad.
void GroupNormGradChannel(const float* x, const float* gy, float* gx, int64_t count, float center, float a,
                          float centeredCoef, float shift) {
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    Store(gx + i, a * Load<Vec16>(gy + i) + centeredCoef * (Load<Vec16>(x + i) - center) + shift);
  }
  for (; i < count; i++) gx[i] = a * gy[i] + centeredCoef * (x[i] - center) + shift;
}

// Rows of cols values taken per task: 16 where they can be reduced together, else one (long
// rows then still spread over many threads). Batches start every 16 rows from the first, so
// they do not depend on the thread count.
int64_t RowsPerTask(int64_t cols) { return Batchable(cols) ? kBatchRows : 1; }

// Moments of count rows (at most 16) of cols values, row r at x + r * stride.
void MomentsOfRows(const float* x, int64_t count, int64_t stride, int64_t cols, double eps, float* mean, float* rstd) {
  if (Batchable(cols)) return BatchMoments(x, count, stride, cols, eps, mean, rstd);
  for (int64_t r = 0; r < count; r++) Moments(x + r * stride, cols, eps, mean + r, rstd + r);
}

Napi::Value GroupNorm(const Napi::CallbackInfo& info) {
  const char* op = "groupNorm";
  Napi::Env env = info.Env();
  F32 x = ArgF32(info, 0, op);
  const float* gamma = ArgOptionalF32(info, 1, op);
  const float* beta = ArgOptionalF32(info, 2, op);
  F32 out = ArgF32(info, 3, op), mean = ArgF32(info, 4, op), rstd = ArgF32(info, 5, op);
  int64_t n = ArgInt(info, 6, op), c = ArgInt(info, 7, op), hw = ArgInt(info, 8, op), groups = ArgInt(info, 9, op);
  double eps = ArgNumber(info, 10, op);
  if (n < 0 || c < 0 || hw < 0 || groups < 1 || c % groups != 0) {
    throw Napi::RangeError::New(env, "groupNorm: need n, c, hw >= 0 and groups >= 1 dividing c");
  }
  if (gamma) RequireLength(env, ArgF32(info, 1, op), c, op, "gamma");
  if (beta) RequireLength(env, ArgF32(info, 2, op), c, op, "beta");
  RequireLength(env, x, n * c * hw, op, "x");
  RequireLength(env, out, n * c * hw, op, "out");
  RequireLength(env, mean, n * groups, op, "mean");
  RequireLength(env, rstd, n * groups, op, "rstd");
  const int64_t channelsPerGroup = c / groups, groupSize = channelsPerGroup * hw;
  if (groupSize == 0) return env.Undefined();

  const int64_t tasks = n * groups, groupsPerTask = RowsPerTask(groupSize);
#pragma omp parallel for schedule(static) num_threads(NumThreadsFor(n * c * hw))
  for (int64_t firstTask = 0; firstTask < tasks; firstTask += groupsPerTask) {
    // (n, g) is one contiguous run: channels g*cpg.. of sample n
    const int64_t count = std::min(groupsPerTask, tasks - firstTask);
    MomentsOfRows(x.data + firstTask * groupSize, count, groupSize, groupSize, eps, mean.data + firstTask,
                  rstd.data + firstTask);
    for (int64_t task = firstTask; task < firstTask + count; task++) {
      const int64_t first = task * groupSize;
      const float mu = mean.data[task], r = rstd.data[task];
      for (int64_t j = 0; j < channelsPerGroup; j++) {
        int64_t channel = (task % groups) * channelsPerGroup + j;
        float scale = gamma ? gamma[channel] * r : r, shift = beta ? beta[channel] : 0.0f;
        CenterScaleShift(x.data + first + j * hw, out.data + first + j * hw, hw, mu, scale, shift);
      }
    }
  }
  return env.Undefined();
}

// For the channel rows [firstRow, endRow) of hw values (one per (sample, channel), in groups
// of channelsPerGroup): the sums of gy and of gy * xhat, in batches of 16 rows where hw allows.
void ChannelGradSums(const float* x, const float* gy, const float* mean, const float* rstd, int64_t firstRow,
                     int64_t endRow, int64_t hw, int64_t channelsPerGroup, float* sumGy, float* sumGyXhat) {
  for (int64_t batch = firstRow; batch < endRow; batch += kBatchRows) {
    const int64_t count = std::min(kBatchRows, endRow - batch);
    float center[kBatchRows], scale[kBatchRows];  // each row's group mean and rstd (the last row's repeated)
    for (int64_t r = 0; r < kBatchRows; r++) {
      center[r] = mean[(batch + std::min(r, count - 1)) / channelsPerGroup];
      scale[r] = rstd[(batch + std::min(r, count - 1)) / channelsPerGroup];
    }
    const float* xb = x + batch * hw;
    const float* gyb = gy + batch * hw;
    if (Batchable(hw)) {
      const std::array<Vec16, 2> sums = BatchGradSums<false>(xb, gyb, count, hw, nullptr, hw, center);
      StoreFirst(sumGy + batch, sums[0], count);
      StoreFirst(sumGyXhat + batch, sums[1] * Load<Vec16>(scale), count);
      continue;
    }
    for (int64_t r = 0; r < count; r++) {
      const std::array<double, 2> sums = GradSums<false>(xb + r * hw, gyb + r * hw, nullptr, hw, center[r]);
      sumGy[batch + r] = static_cast<float>(sums[0]);
      sumGyXhat[batch + r] = static_cast<float>(sums[1] * scale[r]);
    }
  }
}

// With xhat = (x - mean) * rstd and y = gamma * xhat + beta over a group of M values:
// gx = rstd * (gamma gy - mean(gamma gy) - xhat * mean(gamma gy xhat)),
// gGamma[c] = sum over n, hw of gy * xhat, gBeta[c] = sum over n, hw of gy.
Napi::Value GroupNormGrad(const Napi::CallbackInfo& info) {
  const char* op = "groupNormGrad";
  Napi::Env env = info.Env();
  F32 x = ArgF32(info, 0, op), gy = ArgF32(info, 1, op);
  const float* gamma = ArgOptionalF32(info, 2, op);
  F32 mean = ArgF32(info, 3, op), rstd = ArgF32(info, 4, op), gx = ArgF32(info, 5, op);
  float* gGamma = ArgOptionalF32(info, 6, op);
  float* gBeta = ArgOptionalF32(info, 7, op);
  int64_t n = ArgInt(info, 8, op), c = ArgInt(info, 9, op), hw = ArgInt(info, 10, op), groups = ArgInt(info, 11, op);
  if (n < 0 || c < 0 || hw < 0 || groups < 1 || c % groups != 0) {
    throw Napi::RangeError::New(env, "groupNormGrad: need n, c, hw >= 0 and groups >= 1 dividing c");
  }
  if (gamma) RequireLength(env, ArgF32(info, 2, op), c, op, "gamma");
  if (gGamma) RequireLength(env, ArgF32(info, 6, op), c, op, "gGamma");
  if (gBeta) RequireLength(env, ArgF32(info, 7, op), c, op, "gBeta");
  RequireLength(env, x, n * c * hw, op, "x");
  RequireLength(env, gy, n * c * hw, op, "gy");
  RequireLength(env, gx, n * c * hw, op, "gx");
  RequireLength(env, mean, n * groups, op, "mean");
  RequireLength(env, rstd, n * groups, op, "rstd");
  const int64_t channelsPerGroup = c / groups, groupSize = channelsPerGroup * hw;

  // Per-(n, channel) sums of gy and gy * xhat, kept for the gamma/beta reduction.
  const int64_t channelRows = n * c;
  float* sumGy = ThreadScratch(Scratch::kPartialSums, 2 * channelRows);
  float* sumGyXhat = sumGy + channelRows;
  // A task is whole groups whose channel rows fill batches of 16 where hw allows batching.
  const int64_t groupsPerTask = Batchable(hw) ? kBatchRows / std::gcd(kBatchRows, channelsPerGroup) : 1;
  const float inverseGroupSize = groupSize > 0 ? 1.0f / static_cast<float>(groupSize) : 0.0f;
#pragma omp parallel for schedule(static) num_threads(NumThreadsFor(n * c * hw))
  for (int64_t firstTask = 0; firstTask < n * groups; firstTask += groupsPerTask) {
    const int64_t endTask = std::min(n * groups, firstTask + groupsPerTask);
    ChannelGradSums(x.data, gy.data, mean.data, rstd.data, firstTask * channelsPerGroup, endTask * channelsPerGroup,
                    hw, channelsPerGroup, sumGy, sumGyXhat);
    for (int64_t task = firstTask; task < endTask; task++) {
      const int64_t first = task * groupSize;
      const int64_t firstAt = task * channelsPerGroup;  // index of (n, first channel) in [n, c]
      const int64_t firstChannel = (task % groups) * channelsPerGroup;
      const float mu = mean.data[task], r = rstd.data[task];
      float sumGradHat = 0, sumGradHatXhat = 0;  // over the group's few channels: float is plenty
      for (int64_t j = 0; j < channelsPerGroup; j++) {
        const float g = gamma ? gamma[firstChannel + j] : 1.0f;
        sumGradHat += g * sumGy[firstAt + j];
        sumGradHatXhat += g * sumGyXhat[firstAt + j];
      }
      // The formula above as gx = a[c] * gy + centeredCoef * (x - mean) + shift; x is centred
      // before scaling so that a large mean does not cancel digits away.
      const float centeredCoef = -r * r * sumGradHatXhat * inverseGroupSize;
      const float shift = -r * sumGradHat * inverseGroupSize;
      for (int64_t j = 0; j < channelsPerGroup; j++) {
        const float a = r * (gamma ? gamma[firstChannel + j] : 1.0f);
        const int64_t at = first + j * hw;
        GroupNormGradChannel(x.data + at, gy.data + at, gx.data + at, hw, mu, a, centeredCoef, shift);
      }
    }
  }

  if (gGamma || gBeta) {
    // Sample by sample, so that the inner loop runs along contiguous channels.
    std::vector<double> totalGamma(c, 0.0), totalBeta(c, 0.0);
    for (int64_t sample = 0; sample < n; sample++) {
      for (int64_t channel = 0; channel < c; channel++) {
        totalGamma[channel] += sumGyXhat[sample * c + channel];
        totalBeta[channel] += sumGy[sample * c + channel];
      }
    }
    for (int64_t channel = 0; channel < c; channel++) {
      if (gGamma) gGamma[channel] = static_cast<float>(totalGamma[channel]);
      if (gBeta) gBeta[channel] = static_cast<float>(totalBeta[channel]);
    }
  }
  return env.Undefined();
}

Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  const char* op = "layerNorm";
  Napi::Env env = info.Env();
  F32 x = ArgF32(info, 0, op);
  const float* gamma = ArgOptionalF32(info, 1, op);
  const float* beta = ArgOptionalF32(info, 2, op);
  F32 out = ArgF32(info, 3, op), mean = ArgF32(info, 4, op), rstd = ArgF32(info, 5, op);
  int64_t rows = ArgInt(info, 6, op), cols = ArgInt(info, 7, op);
  double eps = ArgNumber(info, 8, op);
  if (rows < 0 || cols < 0) throw Napi::RangeError::New(env, "layerNorm: rows and cols must be >= 0");
  if (gamma) RequireLength(env, ArgF32(info, 1, op), cols, op, "gamma");
  if (beta) RequireLength(env, ArgF32(info, 2, op), cols, op, "beta");
  RequireLength(env, x, rows * cols, op, "x");
  RequireLength(env, out, rows * cols, op, "out");
  RequireLength(env, mean, rows, op, "mean");
  RequireLength(env, rstd, rows, op, "rstd");
  if (cols == 0) return env.Undefined();
  // A missing gamma/beta is the identity, materialised so the row loop has no branches.
  std::vector<float> ones(gamma ? 0 : cols, 1.0f), zeros(beta ? 0 : cols, 0.0f);
  const float* weight = gamma ? gamma : ones.data();
  const float* bias = beta ? beta : zeros.data();

  const int64_t rowsPerTask = RowsPerTask(cols);
#pragma omp parallel for schedule(static) num_threads(NumThreadsFor(rows * cols))
  for (int64_t firstRow = 0; firstRow < rows; firstRow += rowsPerTask) {
    const int64_t count = std::min(rowsPerTask, rows - firstRow);
    const float* xb = x.data + firstRow * cols;
    float* outb = out.data + firstRow * cols;
    const float* mu = mean.data + firstRow;
    const float* r = rstd.data + firstRow;
    MomentsOfRows(xb, count, cols, cols, eps, mean.data + firstRow, rstd.data + firstRow);
    if (Batchable(cols)) {
      for (int64_t i = 0; i < count; i++) {
        for (int64_t j = 0; j < cols; j += 16) {
          const Vec16 w = Load<Vec16>(weight + j), b = Load<Vec16>(bias + j);
          Store(outb + i * cols + j, (Load<Vec16>(xb + i * cols + j) - mu[i]) * (r[i] * w) + b);
        }
      }
      continue;
    }
    for (int64_t i = 0; i < count; i++) {
      for (int64_t j = 0; j < cols; j++) outb[i * cols + j] = (xb[i * cols + j] - mu[i]) * (r[i] * weight[j]) + bias[j];
    }
  }
  return env.Undefined();
}

// Rows whose gamma/beta gradient terms are summed in float before joining a chunk's double
// sums (a multiple of kBatchRows), and the most chunks the rows are cut into: a fixed number,
// so the chunks, and the results, do not depend on the thread count.
constexpr int64_t kRowsPerPartial = 32;
constexpr int64_t kMaxChunks = 64;

// Per row as LayerNormGradRow (layer_norm_rows.h). gGamma and gBeta sum gy * xhat and gy
// down the rows: each chunk of rows sums into its own double partials, which are added in
// chunk order.
Napi::Value LayerNormGrad(const Napi::CallbackInfo& info) {
  const char* op = "layerNormGrad";
  Napi::Env env = info.Env();
  F32 x = ArgF32(info, 0, op), gy = ArgF32(info, 1, op);
  const float* gamma = ArgOptionalF32(info, 2, op);
  F32 mean = ArgF32(info, 3, op), rstd = ArgF32(info, 4, op), gx = ArgF32(info, 5, op);
  float* gGamma = ArgOptionalF32(info, 6, op);
  float* gBeta = ArgOptionalF32(info, 7, op);
  int64_t rows = ArgInt(info, 8, op), cols = ArgInt(info, 9, op);
  if (rows < 0 || cols < 0) throw Napi::RangeError::New(env, "layerNormGrad: rows and cols must be >= 0");
  if (gamma) RequireLength(env, ArgF32(info, 2, op), cols, op, "gamma");
  if (gGamma) RequireLength(env, ArgF32(info, 6, op), cols, op, "gGamma");
  if (gBeta) RequireLength(env, ArgF32(info, 7, op), cols, op, "gBeta");
  RequireLength(env, x, rows * cols, op, "x");
  RequireLength(env, gy, rows * cols, op, "gy");
  RequireLength(env, gx, rows * cols, op, "gx");
  RequireLength(env, mean, rows, op, "mean");
  RequireLength(env, rstd, rows, op, "rstd");

  const bool affineGrads = gGamma || gBeta;
  const auto rowRun = gamma ? (affineGrads ? LayerNormGradRows<true, true> : LayerNormGradRows<true, false>)
                            : (affineGrads ? LayerNormGradRows<false, true> : LayerNormGradRows<false, false>);
  const int64_t chunkRows = (std::max(rows, int64_t{1}) + kMaxChunks * kRowsPerPartial - 1) /
                            (kMaxChunks * kRowsPerPartial) * kRowsPerPartial;
  const int64_t chunks = (rows + chunkRows - 1) / chunkRows;
  // Per chunk: cols sums of gy * xhat, then cols of gy.
  std::vector<double> chunkSums(affineGrads ? chunks * 2 * cols : 0, 0.0);
#pragma omp parallel for schedule(static) num_threads(NumThreadsFor(rows * cols))
  for (int64_t chunk = 0; chunk < chunks; chunk++) {
    float* partial = affineGrads ? ThreadScratch(Scratch::kPartialSums, 2 * cols) : nullptr;
    const int64_t chunkEnd = std::min(rows, (chunk + 1) * chunkRows);
    for (int64_t first = chunk * chunkRows; first < chunkEnd; first += kRowsPerPartial) {
      if (affineGrads) std::fill(partial, partial + 2 * cols, 0.0f);
      rowRun(x.data, gy.data, gamma, mean.data, rstd.data, first, std::min(chunkEnd, first + kRowsPerPartial), cols,
             gx.data, partial, affineGrads ? partial + cols : nullptr);
      if (affineGrads) {
        double* chunkSum = chunkSums.data() + chunk * 2 * cols;
        for (int64_t j = 0; j < 2 * cols; j++) chunkSum[j] += partial[j];
      }
    }
  }
  if (affineGrads) {
    std::vector<double> totals(2 * cols, 0.0);
    for (int64_t chunk = 0; chunk < chunks; chunk++) {
      for (int64_t j = 0; j < 2 * cols; j++) totals[j] += chunkSums[chunk * 2 * cols + j];
    }
    for (int64_t j = 0; j < cols; j++) {
      if (gGamma) gGamma[j] = static_cast<float>(totals[j]);
      if (gBeta) gBeta[j] = static_cast<float>(totals[cols + j]);
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("groupNorm", Napi::Function::New(env, GroupNorm));
  exports.Set("groupNormGrad", Napi::Function::New(env, GroupNormGrad));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormGrad", Napi::Function::New(env, LayerNormGrad));
}

}  // namespace ldm
