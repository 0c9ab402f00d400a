#include "common.h"

namespace ldm {

void RegisterReduce(Napi::Env env, Napi::Object exports) {}

}  // namespace ldm
