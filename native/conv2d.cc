#include "common.h"

namespace ldm {

void RegisterConv2d(Napi::Env env, Napi::Object exports) {}

}  // namespace ldm
