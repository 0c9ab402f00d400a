#include "common.h"

namespace ldm {

void RegisterCopy(Napi::Env env, Napi::Object exports) {}

}  // namespace ldm
