// Pointwise (1x1, stride-1, unpadded) convolutions of small images: the U-Net's shortcut and
// attention projections on 4x4 latents. Per image these are GEMMs with only 16 columns
// (forward, grad input) or a depth of 16 (grad weight), too few to fill the register tiles
// or to pay for re-reading the result. Here the batch's pixels are one axis:
//   forward      out[co, (n, p)] = sum_ci W[co, ci] x[ci, (n, p)]
//   grad input   gx[ci, (n, p)]  = sum_co W[co, ci] gy[co, (n, p)]
//   grad weight  gW[co, ci]      = sum_(n, p) gy[co, (n, p)] x[ci, (n, p)]
// The forward and grad input read x or gy where it lies, 16 pixels of one image per Vec16
// (conv_gemm.h's two halves may come from two images), and write straight into NCHW. The grad
// weight reduces over the pixels, so x is first transposed pixel-major (pixel_major.h).
// Included by conv2d.cc only.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common.h"
#include "conv_gemm.h"
#include "im2col.h"
#include "pixel_major.h"
#include "scratch.h"

namespace ldm {
namespace pointwise {

// Images up to this many pixels go here. From 8x8 up, the per-image GEMMs (conv2d.cc)
// measured as fast or faster: 64 columns per image already fill the register tiles.
constexpr int64_t kMaxPixels = 32;

inline bool Applies(const ConvShape& s) {
  return s.Pointwise() && s.Pixels() <= kMaxPixels && s.Pixels() % 16 == 0;
}

// The batch's pixels in runs of 16 ("chunks"), two per 32-column strip of the product.
struct Chunks {
  int64_t perImage, count;

  explicit Chunks(const ConvShape& s) : perImage(s.Pixels() / 16), count(s.n * s.Pixels() / 16) {}
  int64_t Strips() const { return (count + 1) / 2; }
  // Chunk q of the planes of channel offset `channel` in a tensor of `channels` channels.
  template <typename T>
  T* At(T* base, int64_t channels, int64_t channel, int64_t q, int64_t pixels) const {
    return base + (q / perImage * channels + channel) * pixels + q % perImage * 16;
  }
};

// Strips per work item: about eight items per thread, so that they balance over the threads.
inline int64_t StripsPerItem(const Chunks& chunks, int threads) {
  return std::max<int64_t>(1, chunks.Strips() / (8 * threads));
}

// y[rows, (n, p)] = A[rows, depth] z[depth, (n, p)] (+ bias) for one group, where y and z are
// NCHW tensors (channel offsets yChannel, zChannel of yChannels, zChannels) and A is strided.
inline void Product(const ConvShape& s, int64_t rows, int64_t depth, convgemm::Strided a, const float* z,
                    int64_t zChannels, int64_t zChannel, const float* bias, float* y, int64_t yChannels,
                    int64_t yChannel, int threads) {
  const Chunks chunks(s);
  const int64_t pixels = s.Pixels(), perItem = StripsPerItem(chunks, threads);
  const int64_t items = (chunks.Strips() + perItem - 1) / perItem;
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (int64_t item = 0; item < items; item++) {
    for (int64_t strip = item * perItem; strip < std::min(chunks.Strips(), (item + 1) * perItem); strip++) {
      const int64_t q = 2 * strip, halves = std::min<int64_t>(2, chunks.count - q);
      const float* b[2] = {chunks.At(z, zChannels, zChannel, q, pixels),
                           chunks.At(z, zChannels, zChannel, q + halves - 1, pixels)};
      float* c[2] = {chunks.At(y, yChannels, yChannel, q, pixels),
                     chunks.At(y, yChannels, yChannel, q + halves - 1, pixels)};
      if (bias != nullptr) {  // start from the bias and accumulate onto it
        for (int64_t r = 0; r < rows; r++) {
          for (int64_t h = 0; h < halves; h++) Store(c[h] + r * pixels, Vec16{} + bias[r]);
        }
      }
      convgemm::StripProduct(rows, depth, a, static_cast<int>(halves), b, pixels, c, pixels, bias != nullptr);
    }
  }
}

// out = conv1x1(x, weight) + bias.
inline void Forward(const ConvShape& s, const float* x, const float* weight, const float* bias, float* out,
                    int threads) {
  const int64_t inG = s.InPerGroup(), outG = s.OutPerGroup();
  for (int64_t group = 0; group < s.groups; group++) {
    Product(s, outG, inG, {weight + group * outG * inG, inG, 1}, x, s.cIn, group * inG,
            bias != nullptr ? bias + group * outG : nullptr, out, s.cOut, group * outG, threads);
  }
}

// gx = dL/dx given gy.
inline void GradInput(const ConvShape& s, const float* gy, const float* weight, float* gx, int threads) {
  const int64_t inG = s.InPerGroup(), outG = s.OutPerGroup();
  for (int64_t group = 0; group < s.groups; group++) {
    Product(s, inG, outG, {weight + group * outG * inG, 1, inG}, gy, s.cOut, group * outG, nullptr, gx, s.cIn,
            group * inG, threads);
  }
}

// The grad weight's transposes need whole vectors of input channels per row of gW.
inline bool AppliesGradWeight(const ConvShape& s) { return Applies(s) && s.InPerGroup() % 16 == 0; }

// gw = dL/dweight given x and gy; overwritten. x is first transposed pixel-major (in packed
// strips of 32 input channels, conv_gemm.h), then gW[co, ci strip] = gy[co, (n, p)] times
// that [(n, p), 32] panel, with gy read in place. Each work item owns a block of gW (a strip
// by a panel of output channels) and sums the pixels in one fixed order, so the result does
// not depend on the thread count.
inline void GradWeight(const ConvShape& s, const float* x, const float* gy, float* gw, int threads) {
  const int64_t inG = s.InPerGroup(), outG = s.OutPerGroup();
  const int64_t pixels = s.Pixels(), columns = s.n * pixels, strips = (inG + 31) / 32;
  float* xT = ThreadScratch(Scratch::kColumns, columns * inG);
  // Output-channel panels (whole register tiles) enough for about four items per thread.
  const int64_t tiles = (outG + convgemm::kRows - 1) / convgemm::kRows;
  const int64_t panels = std::clamp<int64_t>(4 * threads / strips, 1, tiles);
  const int64_t panelRows = (tiles + panels - 1) / panels * convgemm::kRows;
  for (int64_t group = 0; group < s.groups; group++) {
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(dynamic)
      for (int64_t item = 0; item < s.n * inG / 16; item++) {
        const int64_t image = item % s.n, slice = item / s.n * 16;
        const int64_t strip = slice / 32 * 32, width = convgemm::StripWidth(inG, strip);
        PlanesToPixels(x + (image * s.cIn + group * inG + slice) * pixels, pixels, 16, pixels, pixels,
                       xT + strip * columns + image * pixels * width + slice - strip, 0, width);
      }
#pragma omp for schedule(dynamic)
      for (int64_t item = 0; item < strips * panels; item++) {
        const int64_t strip = item % strips * 32, r0 = item / strips * panelRows;
        const int64_t rows = std::min(outG, r0 + panelRows) - r0, width = convgemm::StripWidth(inG, strip);
        if (rows <= 0) continue;
        float* c[2] = {gw + (group * outG + r0) * inG + strip, gw + (group * outG + r0) * inG + strip + 16};
        const float* b[2] = {xT + strip * columns, xT + strip * columns + 16};
        // gy[co, (n, p)] read in place: each image's pixels are one segment of the depth.
        const convgemm::Strided a{gy + (group * outG + r0) * pixels, pixels, 1, pixels, s.cOut * pixels};
        convgemm::StripProduct(rows, columns, a, static_cast<int>(width / 16), b, width, c, inG, false);
      }
    }
  }
}

}  // namespace pointwise
}  // namespace ldm
