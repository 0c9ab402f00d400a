// Reductions (sum, max, min) and softmax / log-softmax over the middle axis of a
// [outer, size, inner] view.
//
// inner == 1 reduces contiguous runs; inner > 1 walks the reduced axis row by row over a
// tile of kTile columns whose accumulators stay in L1, so both layouts are read in memory
// order with vectorised loops. Sums accumulate in double.
//
// no-trapping-math: see elementwise.cc (it lets the exp in softmax vectorise).
#pragma GCC optimize("no-trapping-math")
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "common.h"
#include "vector_math.h"

namespace ldm {
namespace {

constexpr int64_t kTile = 256;
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Accumulation rules in double, and the reduction of one contiguous run. Max and min let a
// NaN through and keep it, as PyTorch does; their runs track NaN apart from the comparison
// so that the loop stays a plain vectorisable max/min reduction.
struct SumOp {
  static constexpr double kIdentity = 0.0;
  static LDM_INLINE double Combine(double acc, double v) { return acc + v; }
  static double Run(const float* x, int64_t n) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += x[i];
    return sum;
  }
};
struct MaxOp {
  static constexpr double kIdentity = -kInfinity;
  static LDM_INLINE double Combine(double acc, double v) { return (v > acc) | (v != v) ? v : acc; }
  static double Run(const float* x, int64_t n) {
    float max = -std::numeric_limits<float>::infinity();
    int nan = 0;
#pragma omp simd reduction(max : max) reduction(| : nan)
    for (int64_t i = 0; i < n; ++i) {
      max = x[i] > max ? x[i] : max;
      nan |= x[i] != x[i];
    }
    return nan ? std::numeric_limits<double>::quiet_NaN() : max;
  }
};
struct MinOp {
  static constexpr double kIdentity = kInfinity;
  static LDM_INLINE double Combine(double acc, double v) { return (v < acc) | (v != v) ? v : acc; }
  static double Run(const float* x, int64_t n) {
    float min = std::numeric_limits<float>::infinity();
    int nan = 0;
#pragma omp simd reduction(min : min) reduction(| : nan)
    for (int64_t i = 0; i < n; ++i) {
      min = x[i] < min ? x[i] : min;
      nan |= x[i] != x[i];
    }
    return nan ? std::numeric_limits<double>::quiet_NaN() : min;
  }
};

// acc[j] = Op over s in [s0, s1) of x[s * inner + j] for j < width (acc holds the start value).
template <typename Op>
void ReduceColumns(const float* x, int64_t inner, int64_t s0, int64_t s1, int64_t width, double* acc) {
  for (int64_t s = s0; s < s1; ++s) {
    const float* row = x + s * inner;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) acc[j] = Op::Combine(acc[j], row[j]);
  }
}

// Accumulates x[o, s0:s1, :] into acc[0:inner] (the outputs of outer index o).
template <typename Op>
void ReduceSlice(const float* x, int64_t o, int64_t size, int64_t inner, int64_t s0, int64_t s1, double* acc) {
  const float* base = x + o * size * inner;
  if (inner == 1) {
    acc[0] = Op::Combine(acc[0], Op::Run(base + s0, s1 - s0));
    return;
  }
  for (int64_t i0 = 0; i0 < inner; i0 += kTile) {
    ReduceColumns<Op>(base + i0, inner, s0, s1, std::min(kTile, inner - i0), acc + i0);
  }
}

template <typename Op>
void Reduce(const float* x, float* out, int64_t outer, int64_t size, int64_t inner) {
  const int threads = NumThreadsFor(outer * size * inner);
  const int64_t outputs = outer * inner;
  const int64_t tiles = (inner + kTile - 1) / kTile;
  if (threads > 1 && outer * tiles < threads && size >= 4 * threads) {
    // Fewer work items than threads: split the reduced axis between threads, then combine.
    std::vector<double> partial(static_cast<size_t>(threads) * outputs, Op::kIdentity);
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
      const int64_t s0 = size * t / count, s1 = size * (t + 1) / count;
      double* acc = partial.data() + t * outputs;
      for (int64_t o = 0; o < outer; ++o) ReduceSlice<Op>(x, o, size, inner, s0, s1, acc + o * inner);
    }
    for (int64_t k = 0; k < outputs; ++k) {
      double r = Op::kIdentity;
      for (int t = 0; t < threads; ++t) r = Op::Combine(r, partial[t * outputs + k]);
      out[k] = static_cast<float>(r);
    }
    return;
  }
  // One work item per (outer index, column tile).
#pragma omp parallel for schedule(static) if (threads > 1) num_threads(threads)
  for (int64_t item = 0; item < outer * tiles; ++item) {
    const int64_t o = item / tiles, i0 = (item % tiles) * kTile, width = std::min(kTile, inner - i0);
    double acc[kTile];
    std::fill(acc, acc + width, Op::kIdentity);
    const float* base = x + o * size * inner + i0;
    if (inner == 1) {
      acc[0] = Op::Run(base, size);
    } else {
      ReduceColumns<Op>(base, inner, 0, size, width, acc);
    }
    for (int64_t j = 0; j < width; ++j) out[o * inner + i0 + j] = static_cast<float>(acc[j]);
  }
}

// Softmax over the first axis of a [size, width] block with row stride `inner`:
// out = exp(x - max) / sum, or for log-softmax, (x - max) - log(sum).
void SoftmaxBlock(const float* x, float* out, int64_t size, int64_t inner, int64_t width, bool log) {
  float max[kTile];
  double sum[kTile];
  std::fill(max, max + width, -std::numeric_limits<float>::infinity());
  std::fill(sum, sum + width, 0.0);
  for (int64_t s = 0; s < size; ++s) {
    const float* row = x + s * inner;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) max[j] = (row[j] > max[j]) | (row[j] != row[j]) ? row[j] : max[j];
  }
  for (int64_t s = 0; s < size; ++s) {
    const float* row = x + s * inner;
    float* outRow = out + s * inner;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) {
      const float e = ExpF(row[j] - max[j]);
      sum[j] += e;
      outRow[j] = e;  // kept for softmax, overwritten for log-softmax
    }
  }
  float factor[kTile];  // 1 / sum, or log(sum)
  for (int64_t j = 0; j < width; ++j) {
    factor[j] = log ? static_cast<float>(std::log(sum[j])) : static_cast<float>(1.0 / sum[j]);
  }
  for (int64_t s = 0; s < size; ++s) {
    const float* row = x + s * inner;
    float* outRow = out + s * inner;
    if (log) {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) outRow[j] = (row[j] - max[j]) - factor[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) outRow[j] *= factor[j];
    }
  }
}

// Contiguous row (inner == 1): the same steps with the reduced axis innermost.
void SoftmaxRow(const float* x, float* out, int64_t size, bool log) {
  const float max = static_cast<float>(MaxOp::Run(x, size));
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t s = 0; s < size; ++s) {
    const float e = ExpF(x[s] - max);
    sum += e;
    out[s] = e;  // kept for softmax, overwritten for log-softmax
  }
  if (log) {
    const float logSum = static_cast<float>(std::log(sum));
#pragma omp simd
    for (int64_t s = 0; s < size; ++s) out[s] = (x[s] - max) - logSum;
  } else {
    const float inverse = static_cast<float>(1.0 / sum);
#pragma omp simd
    for (int64_t s = 0; s < size; ++s) out[s] *= inverse;
  }
}

// Softmax backward: gx = y * (gy - sum(gy * y)); log-softmax: gx = gy - exp(y) * sum(gy).
void SoftmaxGradBlock(const float* y, const float* gy, float* gx, int64_t size, int64_t inner, int64_t width,
                      bool log) {
  double dot[kTile];
  std::fill(dot, dot + width, 0.0);
  for (int64_t s = 0; s < size; ++s) {
    const float* yRow = y + s * inner;
    const float* gRow = gy + s * inner;
    if (log) {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) dot[j] += gRow[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) dot[j] += gRow[j] * yRow[j];
    }
  }
  float total[kTile];
  for (int64_t j = 0; j < width; ++j) total[j] = static_cast<float>(dot[j]);
  for (int64_t s = 0; s < size; ++s) {
    const float* yRow = y + s * inner;
    const float* gRow = gy + s * inner;
    float* gxRow = gx + s * inner;
    if (log) {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) gxRow[j] = gRow[j] - ExpF(yRow[j]) * total[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) gxRow[j] = yRow[j] * (gRow[j] - total[j]);
    }
  }
}

// The same for a contiguous row (inner == 1).
void SoftmaxGradRow(const float* y, const float* gy, float* gx, int64_t size, bool log) {
  double dot = 0.0;
  if (log) {
#pragma omp simd reduction(+ : dot)
    for (int64_t s = 0; s < size; ++s) dot += gy[s];
    const float total = static_cast<float>(dot);
#pragma omp simd
    for (int64_t s = 0; s < size; ++s) gx[s] = gy[s] - ExpF(y[s]) * total;
  } else {
#pragma omp simd reduction(+ : dot)
    for (int64_t s = 0; s < size; ++s) dot += gy[s] * y[s];
    const float total = static_cast<float>(dot);
#pragma omp simd
    for (int64_t s = 0; s < size; ++s) gx[s] = y[s] * (gy[s] - total);
  }
}

// Runs block(offset, width) for every (outer index, column tile) of [outer, size, inner].
template <typename Block>
void ForEachSoftmaxBlock(int64_t outer, int64_t size, int64_t inner, const Block& block) {
  const int64_t tiles = (inner + kTile - 1) / kTile;
  const int threads = NumThreadsFor(outer * size * inner * 8);
#pragma omp parallel for schedule(static) if (threads > 1) num_threads(threads)
  for (int64_t item = 0; item < outer * tiles; ++item) {
    const int64_t o = item / tiles, i0 = (item % tiles) * kTile;
    block(o * size * inner + i0, std::min(kTile, inner - i0));
  }
}

struct Dims {
  int64_t outer, size, inner;
};

Dims ArgDims(const Napi::CallbackInfo& info, size_t first, const char* op) {
  const Dims d{ArgInt(info, first, op), ArgInt(info, first + 1, op), ArgInt(info, first + 2, op)};
  if (d.outer < 0 || d.size < 0 || d.inner < 0) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": outer, size and inner must be >= 0");
  }
  return d;
}

Napi::Value ReduceEntry(const Napi::CallbackInfo& info) {
  const char* name = "reduce";
  const int64_t op = ArgInt(info, 0, name);
  const F32 x = ArgF32(info, 1, name);
  const F32 out = ArgF32(info, 2, name);
  const Dims d = ArgDims(info, 3, name);
  RequireLength(info.Env(), x, d.outer * d.size * d.inner, name, "x");
  RequireLength(info.Env(), out, d.outer * d.inner, name, "out");
  switch (op) {
    case 0: Reduce<SumOp>(x.data, out.data, d.outer, d.size, d.inner); break;
    case 1: Reduce<MaxOp>(x.data, out.data, d.outer, d.size, d.inner); break;
    case 2: Reduce<MinOp>(x.data, out.data, d.outer, d.size, d.inner); break;
    default: throw Napi::RangeError::New(info.Env(), "reduce: unknown op code " + std::to_string(op));
  }
  return info.Env().Undefined();
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const char* name = "softmax";
  const F32 x = ArgF32(info, 0, name);
  const F32 out = ArgF32(info, 1, name);
  const Dims d = ArgDims(info, 2, name);
  const bool log = ArgBool(info, 5);
  RequireLength(info.Env(), x, d.outer * d.size * d.inner, name, "x");
  RequireLength(info.Env(), out, d.outer * d.size * d.inner, name, "out");
  ForEachSoftmaxBlock(d.outer, d.size, d.inner, [&](int64_t offset, int64_t width) {
    if (d.inner == 1) {
      SoftmaxRow(x.data + offset, out.data + offset, d.size, log);
    } else {
      SoftmaxBlock(x.data + offset, out.data + offset, d.size, d.inner, width, log);
    }
  });
  return info.Env().Undefined();
}

Napi::Value SoftmaxGrad(const Napi::CallbackInfo& info) {
  const char* name = "softmaxGrad";
  const F32 y = ArgF32(info, 0, name);
  const F32 gy = ArgF32(info, 1, name);
  const F32 gx = ArgF32(info, 2, name);
  const Dims d = ArgDims(info, 3, name);
  const bool log = ArgBool(info, 6);
  const size_t n = d.outer * d.size * d.inner;
  RequireLength(info.Env(), y, n, name, "y");
  RequireLength(info.Env(), gy, n, name, "gy");
  RequireLength(info.Env(), gx, n, name, "gx");
  ForEachSoftmaxBlock(d.outer, d.size, d.inner, [&](int64_t offset, int64_t width) {
    if (d.inner == 1) {
      SoftmaxGradRow(y.data + offset, gy.data + offset, gx.data + offset, d.size, log);
    } else {
      SoftmaxGradBlock(y.data + offset, gy.data + offset, gx.data + offset, d.size, d.inner, width, log);
    }
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New(env, ReduceEntry));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxGrad", Napi::Function::New(env, SoftmaxGrad));
}

}  // namespace ldm
