// Optimizer updates. The Adam step computes in float32, as torch.optim's CPU kernels do (the js
// backend, the oracle, computes in double and rounds where it stores); vectorised and on all
// threads, since a training step of a few million parameters otherwise spends tens of
// milliseconds in a JavaScript loop (21 ms for 1.5M parameters, 4-6 ms here on 2 threads).
#include <cmath>

#include "common.h"

namespace ldm {
namespace {

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  const char* op = "adamStep";
  const F32 param = ArgF32(info, 0, op), grad = ArgF32(info, 1, op);
  const F32 expAvg = ArgF32(info, 2, op), expAvgSq = ArgF32(info, 3, op);
  const Napi::Value packed = info[4];
  if (!packed.IsTypedArray() || packed.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      packed.As<Napi::Float64Array>().ElementLength() != 6) {
    throw Napi::TypeError::New(info.Env(), "adamStep: argument 4 must be a Float64Array of 6 hyper-parameters");
  }
  const double* h = packed.As<Napi::Float64Array>().Data();
  const double beta1 = h[0], beta2 = h[1], eps = h[2], keep = h[3], stepSize = h[4], biasCorrection2Sqrt = h[5];
  const int64_t n = static_cast<int64_t>(param.length);
  RequireLength(info.Env(), grad, param.length, op, "grad");
  RequireLength(info.Env(), expAvg, param.length, op, "expAvg");
  RequireLength(info.Env(), expAvgSq, param.length, op, "expAvgSq");
  float *p = param.data, *m = expAvg.data, *v = expAvgSq.data;
  const float* g = grad.data;
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const float oneMinusB1 = static_cast<float>(1 - beta1), oneMinusB2 = static_cast<float>(1 - beta2);
  const float keepF = static_cast<float>(keep), step = static_cast<float>(stepSize);
  const float rCorrection = static_cast<float>(1 / biasCorrection2Sqrt), epsF = static_cast<float>(eps);
  const int threads = NumThreadsFor(n * 8);
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * oneMinusB1;
    const float vi = v[i] * b2 + gi * gi * oneMinusB2;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * keepF - step * mi / (std::sqrt(vi) * rCorrection + epsF);
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterOptim(Napi::Env env, Napi::Object exports) { exports.Set("adamStep", Napi::Function::New(env, AdamStep)); }

}  // namespace ldm
