// GEGLU's gate (Shazeer 2020, "GLU Variants Improve Transformer"), fused: the feed-forward of
// every transformer block projects to [rows, 2 * half] and multiplies the first half by the
// exact GELU of the second. As separate ops that is two strided copies for the split, a GELU,
// a product, and in the backward two products, a GELU derivative and the re-assembly of the
// halves' gradients; fused, each direction is one pass over the projection.
#pragma GCC optimize("no-trapping-math")  // lets GCC vectorise the CDF's branch (see elementwise.cc)
#include <algorithm>

#include "common.h"
#include "vector_math.h"

namespace ldm {
namespace {

// Each element evaluates an exp and a polynomial: weigh it like the other transcendental maps.
constexpr int64_t kCostPerElement = 16;

template <typename Row>
void ForEachRow(int64_t rows, int64_t half, const Row& row) {
  const int threads = NumThreadsFor(rows * half * kCostPerElement);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < rows; r++) row(r);
}

Napi::Value Geglu(const Napi::CallbackInfo& info) {
  const char* op = "geglu";
  const F32 x = ArgF32(info, 0, op), out = ArgF32(info, 1, op);
  const int64_t rows = ArgInt(info, 2, op), half = ArgInt(info, 3, op);
  if (rows < 0 || half < 0) throw Napi::RangeError::New(info.Env(), "geglu: rows and half must be >= 0");
  RequireLength(info.Env(), x, static_cast<size_t>(rows * 2 * half), op, "x");
  RequireLength(info.Env(), out, static_cast<size_t>(rows * half), op, "out");
  ForEachRow(rows, half, [&](int64_t r) {
    const float* a = x.data + r * 2 * half;
    const float* gate = a + half;
    float* y = out.data + r * half;
#pragma omp simd
    for (int64_t j = 0; j < half; j++) {
      const float g = gate[j];
      y[j] = a[j] * (g * NormalCdfF(g, NormalPdfF(g)));
    }
  });
  return info.Env().Undefined();
}

Napi::Value GegluGrad(const Napi::CallbackInfo& info) {
  const char* op = "gegluGrad";
  const F32 x = ArgF32(info, 0, op), gy = ArgF32(info, 1, op), gx = ArgF32(info, 2, op);
  const int64_t rows = ArgInt(info, 3, op), half = ArgInt(info, 4, op);
  if (rows < 0 || half < 0) throw Napi::RangeError::New(info.Env(), "gegluGrad: rows and half must be >= 0");
  RequireLength(info.Env(), x, static_cast<size_t>(rows * 2 * half), op, "x");
  RequireLength(info.Env(), gy, static_cast<size_t>(rows * half), op, "gy");
  RequireLength(info.Env(), gx, static_cast<size_t>(rows * 2 * half), op, "gx");
  ForEachRow(rows, half, [&](int64_t r) {
    const float* a = x.data + r * 2 * half;
    const float* gate = a + half;
    const float* g = gy.data + r * half;
    float* ga = gx.data + r * 2 * half;
    float* gGate = ga + half;
#pragma omp simd
    for (int64_t j = 0; j < half; j++) {
      const float v = gate[j], pdf = NormalPdfF(v), cdf = NormalCdfF(v, pdf);
      ga[j] = g[j] * (v * cdf);
      gGate[j] = g[j] * a[j] * (cdf + v * pdf);  // d/dv v Phi(v) = Phi(v) + v phi(v)
    }
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterGeglu(Napi::Env env, Napi::Object exports) {
  exports.Set("geglu", Napi::Function::New(env, Geglu));
  exports.Set("gegluGrad", Napi::Function::New(env, GegluGrad));
}

}  // namespace ldm
