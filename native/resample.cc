// Nearest-neighbour upsampling by integer factors and average pooling (no padding, floor
// mode), with their backward passes, on [planes, h, w] images.
//
// Every kernel is parallel over output rows (or input rows for the backward passes), so
// no two threads write the same element and no atomics are needed.
#include <algorithm>
#include <cstring>
#include <string>

#include "common.h"

namespace ldm {
namespace {

struct PlaneDims {
  int64_t planes, h, w, a, b;  // a, b: the two factors (sh, sw) or (k, s)
};

PlaneDims ArgPlaneDims(const Napi::CallbackInfo& info, const char* op) {
  const PlaneDims d{ArgInt(info, 2, op), ArgInt(info, 3, op), ArgInt(info, 4, op), ArgInt(info, 5, op),
                    ArgInt(info, 6, op)};
  if (d.planes < 0 || d.h < 0 || d.w < 0 || d.a < 1 || d.b < 1) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": sizes must be >= 0 and factors >= 1");
  }
  return d;
}

// out[p, i*sh + di, j*sw + dj] = x[p, i, j]: each output row is built once from its input row
// and then copied to the other sh - 1 rows.
void UpsampleNearest(const float* x, float* out, int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw) {
  const int64_t outW = w * sw;
  const int threads = NumThreadsFor(planes * h * outW * sh);
#pragma omp parallel for schedule(static) if (threads > 1) num_threads(threads)
  for (int64_t row = 0; row < planes * h; ++row) {
    const float* in = x + row * w;
    float* first = out + row * sh * outW;
    if (sw == 1) {
      std::memcpy(first, in, sizeof(float) * w);
    } else if (sw == 2) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) first[2 * j] = first[2 * j + 1] = in[j];
    } else {
      for (int64_t j = 0; j < w; ++j) std::fill(first + j * sw, first + (j + 1) * sw, in[j]);
    }
    for (int64_t di = 1; di < sh; ++di) std::memcpy(first + di * outW, first, sizeof(float) * outW);
  }
}

// gx[p, i, j] = sum of gy over the sh x sw block that (i, j) was copied to.
void UpsampleNearestGrad(const float* gy, float* gx, int64_t planes, int64_t h, int64_t w, int64_t sh,
                         int64_t sw) {
  const int64_t outW = w * sw;
  const int threads = NumThreadsFor(planes * h * outW * sh);
#pragma omp parallel for schedule(static) if (threads > 1) num_threads(threads)
  for (int64_t row = 0; row < planes * h; ++row) {
    float* g = gx + row * w;
    std::fill(g, g + w, 0.0f);
    for (int64_t di = 0; di < sh; ++di) {
      const float* src = gy + (row * sh + di) * outW;
      if (sw == 2) {
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) g[j] += src[2 * j] + src[2 * j + 1];
      } else {
        for (int64_t j = 0; j < w; ++j) {
          float sum = 0.0f;
          for (int64_t dj = 0; dj < sw; ++dj) sum += src[j * sw + dj];
          g[j] += sum;
        }
      }
    }
  }
}

int64_t PooledSize(int64_t size, int64_t k, int64_t s) { return size < k ? 0 : (size - k) / s + 1; }

// out[p, oi, oj] = mean of the k x k window at (oi*s, oj*s).
void AvgPool2d(const float* x, float* out, int64_t planes, int64_t h, int64_t w, int64_t k, int64_t s) {
  const int64_t outH = PooledSize(h, k, s), outW = PooledSize(w, k, s);
  const float scale = 1.0f / static_cast<float>(k * k);
  const int threads = NumThreadsFor(planes * outH * outW * k * k);
#pragma omp parallel for schedule(static) if (threads > 1) num_threads(threads)
  for (int64_t row = 0; row < planes * outH; ++row) {
    const int64_t p = row / outH, oi = row % outH;
    float* o = out + row * outW;
    std::fill(o, o + outW, 0.0f);
    for (int64_t di = 0; di < k; ++di) {
      const float* in = x + (p * h + oi * s + di) * w;
      if (k == 2 && s == 2) {
#pragma omp simd
        for (int64_t oj = 0; oj < outW; ++oj) o[oj] += in[2 * oj] + in[2 * oj + 1];
      } else {
        for (int64_t oj = 0; oj < outW; ++oj) {
          float sum = 0.0f;
          for (int64_t dj = 0; dj < k; ++dj) sum += in[oj * s + dj];
          o[oj] += sum;
        }
      }
    }
#pragma omp simd
    for (int64_t oj = 0; oj < outW; ++oj) o[oj] *= scale;
  }
}

// gx[p, i, j] = sum over the windows containing (i, j) of gy / (k*k). Gathered per input row
// (windows overlap when s < k), so each thread owns the rows it writes.
void AvgPool2dGrad(const float* gy, float* gx, int64_t planes, int64_t h, int64_t w, int64_t k, int64_t s) {
  const int64_t outH = PooledSize(h, k, s), outW = PooledSize(w, k, s);
  const float scale = 1.0f / static_cast<float>(k * k);
  const int threads = NumThreadsFor(planes * h * w * k);
#pragma omp parallel for schedule(static) if (threads > 1) num_threads(threads)
  for (int64_t row = 0; row < planes * h; ++row) {
    const int64_t p = row / h, i = row % h;
    float* g = gx + row * w;
    std::fill(g, g + w, 0.0f);
    // Output rows oi whose window covers i: oi*s <= i < oi*s + k.
    const int64_t first = i < k ? 0 : (i - k) / s + 1;
    const int64_t last = std::min(outH - 1, i / s);
    for (int64_t oi = first; oi <= last; ++oi) {
      const float* src = gy + (p * outH + oi) * outW;
      for (int64_t oj = 0; oj < outW; ++oj) {
        const float v = src[oj] * scale;
        for (int64_t dj = 0; dj < k; ++dj) g[oj * s + dj] += v;
      }
    }
  }
}

Napi::Value UpsampleNearestEntry(const Napi::CallbackInfo& info) {
  const char* name = "upsampleNearest";
  const F32 x = ArgF32(info, 0, name);
  const F32 out = ArgF32(info, 1, name);
  const PlaneDims d = ArgPlaneDims(info, name);
  RequireLength(info.Env(), x, d.planes * d.h * d.w, name, "x");
  RequireLength(info.Env(), out, d.planes * d.h * d.a * d.w * d.b, name, "out");
  UpsampleNearest(x.data, out.data, d.planes, d.h, d.w, d.a, d.b);
  return info.Env().Undefined();
}

Napi::Value UpsampleNearestGradEntry(const Napi::CallbackInfo& info) {
  const char* name = "upsampleNearestGrad";
  const F32 gy = ArgF32(info, 0, name);
  const F32 gx = ArgF32(info, 1, name);
  const PlaneDims d = ArgPlaneDims(info, name);
  RequireLength(info.Env(), gy, d.planes * d.h * d.a * d.w * d.b, name, "gy");
  RequireLength(info.Env(), gx, d.planes * d.h * d.w, name, "gx");
  UpsampleNearestGrad(gy.data, gx.data, d.planes, d.h, d.w, d.a, d.b);
  return info.Env().Undefined();
}

Napi::Value AvgPool2dEntry(const Napi::CallbackInfo& info) {
  const char* name = "avgPool2d";
  const F32 x = ArgF32(info, 0, name);
  const F32 out = ArgF32(info, 1, name);
  const PlaneDims d = ArgPlaneDims(info, name);
  RequireLength(info.Env(), x, d.planes * d.h * d.w, name, "x");
  RequireLength(info.Env(), out, d.planes * PooledSize(d.h, d.a, d.b) * PooledSize(d.w, d.a, d.b), name, "out");
  AvgPool2d(x.data, out.data, d.planes, d.h, d.w, d.a, d.b);
  return info.Env().Undefined();
}

Napi::Value AvgPool2dGradEntry(const Napi::CallbackInfo& info) {
  const char* name = "avgPool2dGrad";
  const F32 gy = ArgF32(info, 0, name);
  const F32 gx = ArgF32(info, 1, name);
  const PlaneDims d = ArgPlaneDims(info, name);
  RequireLength(info.Env(), gy, d.planes * PooledSize(d.h, d.a, d.b) * PooledSize(d.w, d.a, d.b), name, "gy");
  RequireLength(info.Env(), gx, d.planes * d.h * d.w, name, "gx");
  AvgPool2dGrad(gy.data, gx.data, d.planes, d.h, d.w, d.a, d.b);
  return info.Env().Undefined();
}

}  // namespace

void RegisterResample(Napi::Env env, Napi::Object exports) {
  exports.Set("upsampleNearest", Napi::Function::New(env, UpsampleNearestEntry));
  exports.Set("upsampleNearestGrad", Napi::Function::New(env, UpsampleNearestGradEntry));
  exports.Set("avgPool2d", Napi::Function::New(env, AvgPool2dEntry));
  exports.Set("avgPool2dGrad", Napi::Function::New(env, AvgPool2dGradEntry));
}

}  // namespace ldm
