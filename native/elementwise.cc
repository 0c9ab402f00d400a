#include "common.h"

namespace ldm {

void RegisterElementwise(Napi::Env env, Napi::Object exports) {}

}  // namespace ldm
