#include "common.h"

namespace ldm {

void RegisterNorm(Napi::Env env, Napi::Object exports) {}

}  // namespace ldm
