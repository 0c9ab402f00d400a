// Shared helpers for the native kernels. Nothing here knows about models or autograd:
// kernels take raw float buffers and sizes. The TypeScript layer validates every argument
// before calling in, so kernels only check what would otherwise corrupt memory
// (buffer lengths), and throw a JS error for that.
#pragma once

#include <napi.h>
#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ldm {

// A view of a Float32Array argument.
struct F32 {
  float* data;
  size_t length;
};

inline F32 ArgF32(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument " + std::to_string(index) +
                                               " must be a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  return F32{a.Data(), a.ElementLength()};
}

// A Float32Array argument that may be null (optional affine parameters, bias).
inline float* ArgOptionalF32(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (info[index].IsNull() || info[index].IsUndefined()) return nullptr;
  return ArgF32(info, index, op).data;
}

inline double ArgNumber(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument " + std::to_string(index) +
                                               " must be a number");
  }
  return info[index].As<Napi::Number>().DoubleValue();
}

inline int64_t ArgInt(const Napi::CallbackInfo& info, size_t index, const char* op) {
  return static_cast<int64_t>(ArgNumber(info, index, op));
}

inline bool ArgBool(const Napi::CallbackInfo& info, size_t index) { return info[index].ToBoolean().Value(); }

// Throws unless a buffer holds at least `needed` floats.
inline void RequireLength(const Napi::Env& env, const F32& a, size_t needed, const char* op, const char* name) {
  if (a.length < needed) {
    throw Napi::RangeError::New(env, std::string(op) + ": " + name + " has " + std::to_string(a.length) +
                                         " elements, needs " + std::to_string(needed));
  }
}

// Work below this many scalar operations runs on one thread: waking the pool costs more.
constexpr int64_t kParallelGrain = 32768;

inline int NumThreadsFor(int64_t work) {
  if (work < kParallelGrain) return 1;
  return omp_get_max_threads();
}

// Registration functions, one per kernel file.
void RegisterElementwise(Napi::Env env, Napi::Object exports);
void RegisterReduce(Napi::Env env, Napi::Object exports);
void RegisterMatmul(Napi::Env env, Napi::Object exports);
void RegisterConv2d(Napi::Env env, Napi::Object exports);
void RegisterNorm(Napi::Env env, Napi::Object exports);
void RegisterAttention(Napi::Env env, Napi::Object exports);
void RegisterResample(Napi::Env env, Napi::Object exports);
void RegisterCopy(Napi::Env env, Napi::Object exports);
void RegisterGeglu(Napi::Env env, Napi::Object exports);
void RegisterOptim(Napi::Env env, Napi::Object exports);

}  // namespace ldm
