// Group and layer normalisation, forward and backward (see Backend.groupNorm / layerNorm in
// src/tensor/backend.ts). Statistics are two-pass (mean, then the mean squared deviation)
// with double accumulators, so a large mean does not cancel the variance away and sums
// over long rows keep their precision. Each (n, group) or row is one task; the gamma/beta
// gradients, which sum over the batch, are reduced from per-task or per-thread partials in
// a fixed order, so results do not depend on thread timing.
#include <cmath>
#include <vector>

#include "common.h"

namespace ldm {
namespace {

// Independent accumulators let the compiler keep four vector registers of doubles in
// flight (without -ffast-math it may not reorder one running sum), and they are folded
// pairwise, which also vectorises: short rows (layer norm over 320 channels) pay little.
constexpr int kLanes = 32;

double FoldLanes(double* lanes) {
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int j = 0; j < width; j++) lanes[j] += lanes[j + width];
  }
  return lanes[0];
}

double Sum(const float* x, int64_t count) {
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int j = 0; j < kLanes; j++) lanes[j] += x[i + j];
  }
  double total = 0;
  for (; i < count; i++) total += x[i];
  return total + FoldLanes(lanes);
}

double SumSquaredDeviation(const float* x, int64_t count, double mean) {
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int j = 0; j < kLanes; j++) {
      double dev = x[i + j] - mean;
      lanes[j] += dev * dev;
    }
  }
  double total = 0;
  for (; i < count; i++) total += (x[i] - mean) * (x[i] - mean);
  return total + FoldLanes(lanes);
}

// sum(g) and sum(g * (x - mean)) with g = gy * weight: the two reductions every norm
// backward needs. The weight (layer norm's gamma) is per element; kWeighted false means 1.
template <bool kWeighted>
void GradSums(const float* x, const float* gy, const float* weight, int64_t count, double mean, double* sumG,
              double* sumGCentered) {
  double lanesG[kLanes] = {}, lanesGX[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int j = 0; j < kLanes; j++) {
      float g = kWeighted ? gy[i + j] * weight[i + j] : gy[i + j];
      lanesG[j] += g;
      lanesGX[j] += g * (x[i + j] - mean);
    }
  }
  double totalG = 0, totalGX = 0;
  for (; i < count; i++) {
    float g = kWeighted ? gy[i] * weight[i] : gy[i];
    totalG += g;
    totalGX += g * (x[i] - mean);
  }
  *sumG = totalG + FoldLanes(lanesG);
  *sumGCentered = totalGX + FoldLanes(lanesGX);
}

// out[i] = (x[i] - center) * scale + shift: a whole affine normalisation of one channel
// folded. Centring first keeps the digits that a large mean would cancel in x * scale - c.
void CenterScaleShift(const float* x, float* out, int64_t count, float center, float scale, float shift) {
  for (int64_t i = 0; i < count; i++) out[i] = (x[i] - center) * scale + shift;
}

// Mean and reciprocal standard deviation (biased variance, as PyTorch) of count values.
void Moments(const float* x, int64_t count, double eps, float* mean, float* rstd) {
  double mu = Sum(x, count) / count;
  double variance = SumSquaredDeviation(x, count, mu) / count;
  *mean = static_cast<float>(mu);
  *rstd = static_cast<float>(1.0 / std::sqrt(variance + eps));
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

#pragma omp parallel for schedule(static) num_threads(NumThreadsFor(n * c * hw))
  for (int64_t task = 0; task < n * groups; task++) {
    const int64_t first = task * groupSize;  // (n, g) is one contiguous run: channels g*cpg.. of sample n
    Moments(x.data + first, groupSize, eps, &mean.data[task], &rstd.data[task]);
    const float mu = mean.data[task], r = rstd.data[task];
    for (int64_t j = 0; j < channelsPerGroup; j++) {
      int64_t channel = (task % groups) * channelsPerGroup + j;
      float scale = gamma ? gamma[channel] * r : r, shift = beta ? beta[channel] : 0.0f;
      CenterScaleShift(x.data + first + j * hw, out.data + first + j * hw, hw, mu, scale, shift);
    }
  }
  return env.Undefined();
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

  // Per-(n, channel) sums of gy and gy * (x - mean), kept for the gamma/beta reduction.
  std::vector<double> sumGy(n * c), sumGyCentered(n * c);
#pragma omp parallel for schedule(static) num_threads(NumThreadsFor(n * c * hw))
  for (int64_t task = 0; task < n * groups; task++) {
    const int64_t first = task * groupSize;
    const int64_t firstAt = task * channelsPerGroup;  // index of (n, first channel) in [n, c]
    const int64_t firstChannel = (task % groups) * channelsPerGroup;
    const double mu = mean.data[task], r = rstd.data[task];
    double meanGradHat = 0, meanGradHatXhat = 0;  // sums for now, divided by M below
    for (int64_t j = 0; j < channelsPerGroup; j++) {
      const int64_t at = firstAt + j;
      GradSums<false>(x.data + first + j * hw, gy.data + first + j * hw, nullptr, hw, mu, &sumGy[at],
                      &sumGyCentered[at]);
      const double g = gamma ? gamma[firstChannel + j] : 1.0;
      meanGradHat += g * sumGy[at];
      meanGradHatXhat += g * sumGyCentered[at] * r;
    }
    if (groupSize > 0) {
      meanGradHat /= groupSize;
      meanGradHatXhat /= groupSize;
    }
    // The formula above as gx = a[c] * gy + centeredCoef * (x - mean) + shift; x is centred
    // before scaling so that a large mean does not cancel digits away.
    const float centeredCoef = static_cast<float>(-r * r * meanGradHatXhat);
    const float shift = static_cast<float>(-r * meanGradHat), muf = static_cast<float>(mu);
    for (int64_t j = 0; j < channelsPerGroup; j++) {
      const float a = static_cast<float>(r * (gamma ? gamma[firstChannel + j] : 1.0));
      const float* xc = x.data + first + j * hw;
      const float* gyc = gy.data + first + j * hw;
      float* gxc = gx.data + first + j * hw;
      for (int64_t i = 0; i < hw; i++) gxc[i] = a * gyc[i] + centeredCoef * (xc[i] - muf) + shift;
    }
  }

  if (gGamma || gBeta) {
    for (int64_t channel = 0; channel < c; channel++) {
      double totalGamma = 0, totalBeta = 0;
      for (int64_t sample = 0; sample < n; sample++) {
        const int64_t at = sample * c + channel;
        totalGamma += sumGyCentered[at] * rstd.data[sample * groups + channel / channelsPerGroup];
        totalBeta += sumGy[at];
      }
      if (gGamma) gGamma[channel] = static_cast<float>(totalGamma);
      if (gBeta) gBeta[channel] = static_cast<float>(totalBeta);
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

#pragma omp parallel for schedule(static) num_threads(NumThreadsFor(rows * cols))
  for (int64_t row = 0; row < rows; row++) {
    const float* xr = x.data + row * cols;
    float* outr = out.data + row * cols;
    Moments(xr, cols, eps, &mean.data[row], &rstd.data[row]);
    const float mu = mean.data[row], r = rstd.data[row];
    for (int64_t j = 0; j < cols; j++) outr[j] = (xr[j] - mu) * (r * weight[j]) + bias[j];
  }
  return env.Undefined();
}

// Per row: gx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = gamma * gy. gGamma and
// gBeta sum gy * xhat and gy down the rows: each thread sums its static block of rows into
// its own partial, and the partials are added in thread order.
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

  const int threads = NumThreadsFor(rows * cols);
  const bool affineGrads = gGamma || gBeta;
  // Per thread: cols partial sums of gy * xhat, then cols of gy.
  std::vector<double> partials(affineGrads ? threads * 2 * cols : 0, 0.0);
#pragma omp parallel num_threads(threads)
  {
    double* partialGamma = affineGrads ? partials.data() + omp_get_thread_num() * 2 * cols : nullptr;
    double* partialBeta = affineGrads ? partialGamma + cols : nullptr;
#pragma omp for schedule(static)
    for (int64_t row = 0; row < rows; row++) {
      const float* xr = x.data + row * cols;
      const float* gyr = gy.data + row * cols;
      float* gxr = gx.data + row * cols;
      const float mu = mean.data[row], r = rstd.data[row];
      double sumG, sumGCentered;
      if (gamma) {
        GradSums<true>(xr, gyr, gamma, cols, mu, &sumG, &sumGCentered);
      } else {
        GradSums<false>(xr, gyr, nullptr, cols, mu, &sumG, &sumGCentered);
      }
      const float meanG = static_cast<float>(sumG / cols), meanGXhat = static_cast<float>(sumGCentered * r / cols);
      if (gamma) {
        for (int64_t j = 0; j < cols; j++) gxr[j] = r * (gamma[j] * gyr[j] - meanG - (xr[j] - mu) * r * meanGXhat);
      } else {
        for (int64_t j = 0; j < cols; j++) gxr[j] = r * (gyr[j] - meanG - (xr[j] - mu) * r * meanGXhat);
      }
      if (affineGrads) {
        for (int64_t j = 0; j < cols; j++) {
          partialGamma[j] += static_cast<double>(gyr[j]) * ((xr[j] - mu) * r);
          partialBeta[j] += gyr[j];
        }
      }
    }
  }
  for (int64_t j = 0; j < cols && affineGrads; j++) {
    double totalGamma = 0, totalBeta = 0;
    for (int t = 0; t < threads; t++) {
      totalGamma += partials[t * 2 * cols + j];
      totalBeta += partials[t * 2 * cols + cols + j];
    }
    if (gGamma) gGamma[j] = static_cast<float>(totalGamma);
    if (gBeta) gBeta[j] = static_cast<float>(totalBeta);
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
