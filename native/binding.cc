// The N-API entry point: registers every kernel file's functions and the thread setting.
#include "common.h"

namespace ldm {
namespace {

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 0, "setNumThreads");
  if (n < 1) throw Napi::RangeError::New(info.Env(), "setNumThreads: n must be >= 1");
  omp_set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

}  // namespace
}  // namespace ldm

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using namespace ldm;
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  RegisterElementwise(env, exports);
  RegisterReduce(env, exports);
  RegisterMatmul(env, exports);
  RegisterConv2d(env, exports);
  RegisterNorm(env, exports);
  RegisterAttention(env, exports);
  RegisterResample(env, exports);
  RegisterCopy(env, exports);
  RegisterGeglu(env, exports);
  RegisterOptim(env, exports);
  return exports;
}

NODE_API_MODULE(ldm_native, InitModule)
