// Moves between NCHW channel planes and pixel-major vectors (the 16 channels of one pixel in
// one Vec16), through 16 x 16 register transposes: the layout in which the channel-vectorised
// convolutions (winograd.h, conv_pointwise.h) transform and multiply. Included by conv2d.cc
// only.
#pragma once

#include <cstdint>

#include "gemm_blocked.h"
#include "vec.h"

namespace ldm {

// A run of `count` pixels of 16 channel planes (plane c at src + c * stride, c < channels,
// zeros for the rest) into pixel-major vectors. The run is `width` pixels per row; the 16
// channels of its pixel (row i, column j) go to dst + i * rowStep + j * step.
inline void PlanesToPixels(const float* src, int64_t stride, int64_t channels, int64_t count, int64_t width,
                           float* dst, int64_t rowStep, int64_t step) {
  float* row = dst;
  int64_t j = 0;  // column of the next pixel
  const auto next = [&]() {
    float* at = row + j * step;
    if (++j == width) j = 0, row += rowStep;
    return at;
  };
  int64_t p = 0;
  for (; p + 16 <= count; p += 16) {
    Vec16 block[16];
    for (int c = 0; c < 16; c++) block[c] = c < channels ? Load<Vec16>(src + c * stride + p) : Vec16{};
    gemm::Transpose16(block);
    for (int q = 0; q < 16; q++) Store(next(), block[q]);
  }
  for (; p < count; p++) {
    float* at = next();
    for (int c = 0; c < 16; c++) at[c] = c < channels ? src[c * stride + p] : 0.0f;
  }
}

// Asks for floats [from, from + count) of `channels` planes `stride` apart (for writing, if
// `write`). The next 16-channel slice of a small image is a few lines in each of 16 planes:
// too short a stream for the hardware prefetcher to pick up.
inline void PrefetchPlanes(const float* planes, int64_t stride, int64_t channels, int64_t from, int64_t count,
                           bool write) {
  for (int64_t c = 0; c < channels; c++) {
    for (int64_t p = from; p < from + count; p += 16) {
      if (write) {
        __builtin_prefetch(planes + c * stride + p, 1);
      } else {
        __builtin_prefetch(planes + c * stride + p, 0);
      }
    }
  }
}

// The reverse for pixel-major vectors `step` floats apart: channel c < channels of pixel p
// (src + p * step) to dst[c * stride + p].
inline void PixelsToPlanes(const float* src, int64_t step, int64_t count, int64_t channels, float* dst,
                           int64_t stride) {
  int64_t p = 0;
  for (; p + 16 <= count; p += 16) {
    Vec16 block[16];
    for (int q = 0; q < 16; q++) block[q] = Load<Vec16>(src + (p + q) * step);
    gemm::Transpose16(block);
    for (int c = 0; c < channels; c++) Store(dst + c * stride + p, block[c]);
  }
  for (; p < count; p++) {
    for (int c = 0; c < channels; c++) dst[c * stride + p] = src[p * step + c];
  }
}

}  // namespace ldm
