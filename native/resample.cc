#include "common.h"

namespace ldm {

void RegisterResample(Napi::Env env, Napi::Object exports) {}

}  // namespace ldm
