#include "common.h"

namespace ldm {

void RegisterAttention(Napi::Env env, Napi::Object exports) {}

}  // namespace ldm
