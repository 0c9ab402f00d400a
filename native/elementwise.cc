// Elementwise kernels: unary ops and their gradients, and broadcasting binary ops.
//
// Every loop body is a small inline function applied under `#pragma omp simd`, so GCC
// turns it into SIMD code (the transcendental functions come from vector_math.h), and
// large arrays are split into one contiguous chunk per thread.
//
// no-trapping-math: GCC moves arithmetic under the branches that use it (for example into
// one arm of a select) and, assuming floating-point operations may trap, then refuses to
// vectorise the branch. Node never enables floating-point traps, so results are unchanged.
#pragma GCC optimize("no-trapping-math")
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common.h"
#include "vector_math.h"

namespace ldm {
namespace {

// Op codes: the index of each op in UNARY_OPS / BINARY_OPS (src/tensor/backend.ts).
enum UnaryCode {
  kNeg, kExp, kLog, kSqrt, kRsqrt, kAbs, kSquare, kSigmoid, kTanh, kSilu, kGelu, kRelu,
  kLeakyRelu, kPowScalar, kClamp, kAffine, kUnaryCount
};
enum BinaryCode { kAdd, kSub, kMul, kDiv, kPow, kMaximum, kMinimum, kEq, kGt, kLt, kBinaryCount };

// Rough cost of one element in scalar operations, for the threading threshold.
constexpr int64_t kCheapCost = 1;
constexpr int64_t kTranscendentalCost = 16;

// Runs body(begin, end) over [0, n) in one contiguous chunk per thread. Chunk lengths are
// multiples of 16 floats, so chunks start on cache lines whenever the buffer does.
template <typename Body>
void ParallelChunks(int64_t n, int64_t costPerElement, const Body& body) {
  const int threads = NumThreadsFor(n * costPerElement);
  if (threads <= 1) {
    body(0, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t count = omp_get_num_threads();
    const int64_t chunk = ((n + count - 1) / count + 15) / 16 * 16;
    const int64_t begin = std::min(n, omp_get_thread_num() * chunk);
    const int64_t end = std::min(n, begin + chunk);
    if (begin < end) body(begin, end);
  }
}

template <typename Fn>
void MapUnary(const float* x, float* out, int64_t n, int64_t cost, Fn fn) {
  ParallelChunks(n, cost, [&](int64_t begin, int64_t end) {
    const Fn f = fn;  // a local copy: its captured parameters then live in registers
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) out[i] = f(x[i]);
  });
}

// gx[i] = fn(x[i], y[i], gy[i]).
template <typename Fn>
void MapUnaryGrad(const float* x, const float* y, const float* gy, float* gx, int64_t n, int64_t cost, Fn fn) {
  ParallelChunks(n, cost, [&](int64_t begin, int64_t end) {
    const Fn f = fn;
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) gx[i] = f(x[i], y[i], gy[i]);
  });
}

LDM_INLINE float GeluF(float x) { return x * NormalCdfF(x, NormalPdfF(x)); }

// Calls map(fn, cost) with fn(v) = v ** p, specialised as PyTorch's pow_tensor_scalar is
// (multiplies, sqrt and reciprocals for p in {2, 3, 0.5, -0.5, -1, -2}; std::pow otherwise).
template <typename Map>
void WithPowFunction(float p, const Map& map) {
  if (p == 0.0f) return map([](float) { return 1.0f; }, kCheapCost);
  if (p == 1.0f) return map([](float v) { return v; }, kCheapCost);
  if (p == 2.0f) return map([](float v) { return v * v; }, kCheapCost);
  if (p == 3.0f) return map([](float v) { return v * v * v; }, kCheapCost);
  if (p == 0.5f) return map([](float v) { return std::sqrt(v); }, kCheapCost);
  if (p == -0.5f) return map([](float v) { return 1.0f / std::sqrt(v); }, kCheapCost);
  if (p == -1.0f) return map([](float v) { return 1.0f / v; }, kCheapCost);
  if (p == -2.0f) return map([](float v) { return 1.0f / (v * v); }, kCheapCost);
  map([p](float v) { return std::pow(v, p); }, kTranscendentalCost);
}

void UnaryForward(int op, const float* x, float* out, int64_t n, float p0, float p1) {
  constexpr int64_t kT = kTranscendentalCost;
  switch (op) {
    case kNeg: return MapUnary(x, out, n, kCheapCost, [](float v) { return -v; });
    case kExp: return MapUnary(x, out, n, kT, [](float v) { return ExpF(v); });
    case kLog: return MapUnary(x, out, n, kT, [](float v) { return LogF(v); });
    case kSqrt: return MapUnary(x, out, n, kCheapCost, [](float v) { return std::sqrt(v); });
    case kRsqrt: return MapUnary(x, out, n, kCheapCost, [](float v) { return 1.0f / std::sqrt(v); });
    case kAbs: return MapUnary(x, out, n, kCheapCost, [](float v) { return std::fabs(v); });
    case kSquare: return MapUnary(x, out, n, kCheapCost, [](float v) { return v * v; });
    case kSigmoid: return MapUnary(x, out, n, kT, [](float v) { return SigmoidF(v); });
    case kTanh: return MapUnary(x, out, n, kT, [](float v) { return TanhF(v); });
    case kSilu: return MapUnary(x, out, n, kT, [](float v) { return v * SigmoidF(v); });
    case kGelu: return MapUnary(x, out, n, kT, [](float v) { return GeluF(v); });
    // Written so that NaN passes through, as in PyTorch.
    case kRelu: return MapUnary(x, out, n, kCheapCost, [](float v) { return v < 0.0f ? 0.0f : v; });
    case kLeakyRelu: return MapUnary(x, out, n, kCheapCost, [p0](float v) { return v > 0.0f ? v : v * p0; });
    case kPowScalar:
      return WithPowFunction(p0, [&](auto pow, int64_t cost) { MapUnary(x, out, n, cost, pow); });
    case kClamp:
      return MapUnary(x, out, n, kCheapCost, [p0, p1](float v) {
        const float lower = v < p0 ? p0 : v;
        return lower > p1 ? p1 : lower;
      });
    case kAffine: return MapUnary(x, out, n, kCheapCost, [p0, p1](float v) { return v * p0 + p1; });
  }
}

// Derivatives as PyTorch's autograd writes them (tools/autograd/derivatives.yaml): from the
// output where PyTorch uses it (exp, sqrt, rsqrt, sigmoid, tanh), and relu'(0) = abs'(0) = 0.
void UnaryBackward(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float p0,
                   float p1) {
  constexpr int64_t kC = kCheapCost;
  constexpr int64_t kT = kTranscendentalCost;
  auto map = [&](int64_t cost, auto fn) { MapUnaryGrad(x, y, gy, gx, n, cost, fn); };
  switch (op) {
    case kNeg: return map(kC, [](float, float, float g) { return -g; });
    case kExp: return map(kC, [](float, float r, float g) { return g * r; });
    case kLog: return map(kC, [](float v, float, float g) { return g / v; });
    case kSqrt: return map(kC, [](float, float r, float g) { return g / (2.0f * r); });
    case kRsqrt: return map(kC, [](float, float r, float g) { return -0.5f * g * (r * r * r); });
    case kAbs:  // g * sgn(v)
      return map(kC, [](float v, float, float g) { return v > 0.0f ? g : (v < 0.0f ? -g : 0.0f * g); });
    case kSquare: return map(kC, [](float v, float, float g) { return g * (2.0f * v); });
    case kSigmoid: return map(kC, [](float, float r, float g) { return g * (1.0f - r) * r; });
    case kTanh: return map(kC, [](float, float r, float g) { return g * (1.0f - r * r); });
    case kSilu:
      return map(kT, [](float v, float, float g) {
        const float s = SigmoidF(v);
        return g * s * (1.0f + v * (1.0f - s));
      });
    case kGelu:
      return map(kT, [](float v, float, float g) {
        const float pdf = NormalPdfF(v);
        return g * (NormalCdfF(v, pdf) + v * pdf);  // d/dx x Phi(x) = Phi(x) + x phi(x)
      });
    case kRelu: return map(kC, [](float v, float, float g) { return v > 0.0f ? g : 0.0f; });
    case kLeakyRelu: return map(kC, [p0](float v, float, float g) { return v > 0.0f ? g : g * p0; });
    case kPowScalar:
      // p * x^(p - 1), and exactly 0 for p = 0 (PyTorch's pow_backward).
      if (p0 == 0.0f) return map(kC, [](float, float, float) { return 0.0f; });
      return WithPowFunction(p0 - 1.0f, [&](auto pow, int64_t cost) {
        map(cost, [p0, pow](float v, float, float g) { return g * (p0 * pow(v)); });
      });
    case kClamp:
      return map(kC, [p0, p1](float v, float, float g) { return (v >= p0) & (v <= p1) ? g : 0.0f; });
    case kAffine: return map(kC, [p0](float, float, float g) { return g * p0; });
  }
}

LDM_INLINE float Maximum(float a, float b) { return a != a ? a : (a > b ? a : b); }  // NaN wins
LDM_INLINE float Minimum(float a, float b) { return a != a ? a : (a < b ? a : b); }

template <int Op>
LDM_INLINE float ApplyBinary(float a, float b) {
  if constexpr (Op == kAdd) return a + b;
  if constexpr (Op == kSub) return a - b;
  if constexpr (Op == kMul) return a * b;
  if constexpr (Op == kDiv) return a / b;
  if constexpr (Op == kPow) return std::pow(a, b);
  if constexpr (Op == kMaximum) return Maximum(a, b);
  if constexpr (Op == kMinimum) return Minimum(a, b);
  if constexpr (Op == kEq) return a == b ? 1.0f : 0.0f;
  if constexpr (Op == kGt) return a > b ? 1.0f : 0.0f;
  if constexpr (Op == kLt) return a < b ? 1.0f : 0.0f;
}

// One run along the innermost axis, specialised on the two common stride patterns of
// each input (1: contiguous, 0: broadcast) so those loops vectorise.
template <int Op>
void BinaryRun(const float* a, const float* b, float* out, int64_t len, int64_t aStride, int64_t bStride) {
  if (aStride == 1 && bStride == 1) {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) out[i] = ApplyBinary<Op>(a[i], b[i]);
  } else if (aStride == 1 && bStride == 0) {
    const float bv = *b;
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) out[i] = ApplyBinary<Op>(a[i], bv);
  } else if (aStride == 0 && bStride == 1) {
    const float av = *a;
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) out[i] = ApplyBinary<Op>(av, b[i]);
  } else {
    for (int64_t i = 0; i < len; ++i) out[i] = ApplyBinary<Op>(a[i * aStride], b[i * bStride]);
  }
}

// A broadcast layout with size-1 axes dropped and adjacent axes merged wherever both inputs
// step through them as one (for instance bias [C, 1, 1] over [N, C, H, W] becomes
// [N, C, H*W] with b strides [0, 1, 0]). Always at least one axis.
struct Layout {
  std::vector<int64_t> shape, aStrides, bStrides;
};

Layout Simplify(const std::vector<int64_t>& shape, const std::vector<int64_t>& aStrides,
                const std::vector<int64_t>& bStrides) {
  Layout l;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!l.shape.empty() && l.aStrides.back() == aStrides[d] * shape[d] &&
        l.bStrides.back() == bStrides[d] * shape[d]) {
      l.shape.back() *= shape[d];
      l.aStrides.back() = aStrides[d];
      l.bStrides.back() = bStrides[d];
      continue;
    }
    l.shape.push_back(shape[d]);
    l.aStrides.push_back(aStrides[d]);
    l.bStrides.push_back(bStrides[d]);
  }
  if (l.shape.empty()) l = Layout{{1}, {0}, {0}};
  return l;
}

// Output elements [begin, end) in row-major order: the innermost axis runs as BinaryRun
// calls, the outer axes advance like an odometer.
template <int Op>
void BinaryRange(const float* a, const float* b, float* out, const Layout& l, int64_t begin, int64_t end) {
  const int rank = static_cast<int>(l.shape.size());
  const int64_t inner = l.shape[rank - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t aBase = 0, bBase = 0;
  int64_t row = begin / inner;
  for (int d = rank - 2; d >= 0; --d) {
    index[d] = row % l.shape[d];
    row /= l.shape[d];
    aBase += index[d] * l.aStrides[d];
    bBase += index[d] * l.bStrides[d];
  }
  int64_t column = begin % inner;
  for (int64_t pos = begin; pos < end;) {
    const int64_t len = std::min(inner - column, end - pos);
    BinaryRun<Op>(a + aBase + column * l.aStrides[rank - 1], b + bBase + column * l.bStrides[rank - 1], out + pos,
                  len, l.aStrides[rank - 1], l.bStrides[rank - 1]);
    pos += len;
    column = 0;
    for (int d = rank - 2; d >= 0; --d) {
      aBase += l.aStrides[d];
      bBase += l.bStrides[d];
      if (++index[d] < l.shape[d]) break;
      aBase -= l.aStrides[d] * l.shape[d];
      bBase -= l.bStrides[d] * l.shape[d];
      index[d] = 0;
    }
  }
}

template <int Op>
void BinaryKernel(const float* a, const float* b, float* out, const Layout& l, int64_t n) {
  const int64_t cost = Op == kPow ? kTranscendentalCost : kCheapCost;
  ParallelChunks(n, cost, [&](int64_t begin, int64_t end) { BinaryRange<Op>(a, b, out, l, begin, end); });
}

using BinaryFn = void (*)(const float*, const float*, float*, const Layout&, int64_t);
constexpr BinaryFn kBinaryKernels[kBinaryCount] = {
    BinaryKernel<kAdd>,     BinaryKernel<kSub>,     BinaryKernel<kMul>, BinaryKernel<kDiv>, BinaryKernel<kPow>,
    BinaryKernel<kMaximum>, BinaryKernel<kMinimum>, BinaryKernel<kEq>,  BinaryKernel<kGt>,  BinaryKernel<kLt>,
};

int ArgOpCode(const Napi::CallbackInfo& info, int count, const char* op) {
  const int64_t code = ArgInt(info, 0, op);
  if (code < 0 || code >= count) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": unknown op code " + std::to_string(code));
  }
  return static_cast<int>(code);
}

std::vector<int64_t> ArgIntArray(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument " + std::to_string(index) +
                                               " must be a Float64Array");
  }
  Napi::Float64Array a = info[index].As<Napi::Float64Array>();
  return std::vector<int64_t>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  const int op = ArgOpCode(info, kUnaryCount, "unary");
  const F32 x = ArgF32(info, 1, "unary");
  const F32 out = ArgF32(info, 2, "unary");
  RequireLength(info.Env(), out, x.length, "unary", "out");
  UnaryForward(op, x.data, out.data, static_cast<int64_t>(x.length), static_cast<float>(ArgNumber(info, 3, "unary")),
               static_cast<float>(ArgNumber(info, 4, "unary")));
  return info.Env().Undefined();
}

Napi::Value UnaryGrad(const Napi::CallbackInfo& info) {
  const char* name = "unaryGrad";
  const int op = ArgOpCode(info, kUnaryCount, name);
  const F32 x = ArgF32(info, 1, name);
  const F32 y = ArgF32(info, 2, name);
  const F32 gy = ArgF32(info, 3, name);
  const F32 gx = ArgF32(info, 4, name);
  RequireLength(info.Env(), y, x.length, name, "y");
  RequireLength(info.Env(), gy, x.length, name, "gy");
  RequireLength(info.Env(), gx, x.length, name, "gx");
  UnaryBackward(op, x.data, y.data, gy.data, gx.data, static_cast<int64_t>(x.length),
                static_cast<float>(ArgNumber(info, 5, name)), static_cast<float>(ArgNumber(info, 6, name)));
  return info.Env().Undefined();
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  const char* name = "binary";
  const Napi::Env env = info.Env();
  const int op = ArgOpCode(info, kBinaryCount, name);
  const F32 a = ArgF32(info, 1, name);
  const F32 b = ArgF32(info, 2, name);
  const F32 out = ArgF32(info, 3, name);
  const std::vector<int64_t> shape = ArgIntArray(info, 4, name);
  const std::vector<int64_t> aStrides = ArgIntArray(info, 5, name);
  const std::vector<int64_t> bStrides = ArgIntArray(info, 6, name);
  if (shape.empty() || aStrides.size() != shape.size() || bStrides.size() != shape.size()) {
    throw Napi::RangeError::New(env, "binary: outShape, aStrides and bStrides must have the same length >= 1");
  }
  // The furthest element each input is read at, to keep every read inside its buffer.
  int64_t n = 1, aLast = 0, bLast = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0 || aStrides[d] < 0 || bStrides[d] < 0) {
      throw Napi::RangeError::New(env, "binary: negative size or stride");
    }
    n *= shape[d];
    aLast += (shape[d] - 1) * aStrides[d];
    bLast += (shape[d] - 1) * bStrides[d];
  }
  if (n == 0) return env.Undefined();
  RequireLength(env, out, static_cast<size_t>(n), name, "out");
  RequireLength(env, a, static_cast<size_t>(aLast + 1), name, "a");
  RequireLength(env, b, static_cast<size_t>(bLast + 1), name, "b");
  kBinaryKernels[op](a.data, b.data, out.data, Simplify(shape, aStrides, bStrides), n);
  return env.Undefined();
}

}  // namespace

void RegisterElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("unaryGrad", Napi::Function::New(env, UnaryGrad));
  exports.Set("binary", Napi::Function::New(env, Binary));
}

}  // namespace ldm
