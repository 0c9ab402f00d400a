// Convolutions of small images (at most kMaxPixels output pixels: the U-Net levels of 8x8 and
// 4x4 latents) that Winograd does not take: strided downsampling, the thin input and output
// layers. Per image, the column matrix of im2col has only 16 or 64
// columns, too few to fill the GEMM's register tiles. Here each work item takes several
// images of one group and lays their column matrices side by side, [ColRows, images *
// pixels], so that one GEMM of about kTargetColumns columns does all of them; results are
// copied back to NCHW.
// Included by conv2d.cc only.
#pragma once

#include <algorithm>
#include <cstdint>

#include "gemm.h"
#include "im2col.h"
#include "scratch.h"

namespace ldm {
namespace batched {

constexpr int64_t kMaxPixels = 64;
constexpr int64_t kTargetColumns = 128;

// Small images that Winograd does not take (it needs fewer multiplies than any GEMM does),
// except pointwise convolutions: their per-image GEMMs read x in place, which beats copying
// the columns together.
inline bool Applies(const ConvShape& s, bool winograd) {
  return !winograd && !s.Pointwise() && s.Pixels() <= kMaxPixels;
}

// Images per work item: enough for about kTargetColumns GEMM columns, but no fewer than two
// items per thread when the batch allows, so that the threads stay evenly busy.
inline int64_t ImagesPerItem(const ConvShape& s, int threads) {
  int64_t images = std::max<int64_t>(1, kTargetColumns / std::max<int64_t>(1, s.Pixels()));
  while (images > 1 && (s.n + images - 1) / images * s.groups < 2 * threads) images = (images + 1) / 2;
  return images;
}

// The images [first, first + count) of one work item.
struct Item {
  int64_t group, first, count;
};

inline Item ItemAt(const ConvShape& s, int64_t index, int64_t perItem) {
  const int64_t first = index / s.groups * perItem;
  return Item{index % s.groups, first, std::min(perItem, s.n - first)};
}

inline int64_t ItemCount(const ConvShape& s, int64_t perItem) { return (s.n + perItem - 1) / perItem * s.groups; }

// An input plane with its padding made explicit, so that every tap of every output pixel
// reads inside it: rows [-padTop, rows - padTop) and columns [-padLeft, cols - padLeft) of
// the plane, zero outside the image. Im2col's per-run bounds checks cost more than the copy
// itself on planes of 4x4 or 8x8.
struct PaddedPlane {
  int64_t rows, cols;

  explicit PaddedPlane(const ConvShape& s)
      : rows((s.outH - 1) * s.strideH + (s.kh - 1) * s.dilationH + 1),
        cols((s.outW - 1) * s.strideW + (s.kw - 1) * s.dilationW + 1) {}

  int64_t Size() const { return rows * cols; }

  // Copies the image part of `plane` in; the padding was zeroed once (ZeroFill) and stays so.
  void Load(const ConvShape& s, const float* plane, float* padded) const {
    for (int64_t iy = std::max<int64_t>(0, -s.padTop); iy < std::min(s.h, rows - s.padTop); iy++) {
      const int64_t x0 = std::max<int64_t>(0, -s.padLeft), x1 = std::min(s.w, cols - s.padLeft);
      std::copy(plane + iy * s.w + x0, plane + iy * s.w + x1, padded + (iy + s.padTop) * cols + x0 + s.padLeft);
    }
  }
};

// The column matrices of the item's images side by side: col[r, j * pixels + p].
inline void GatherColumns(const ConvShape& s, const float* x, const Item& item, float* col, float* padded) {
  const PaddedPlane frame(s);
  const int64_t pixels = s.Pixels(), width = item.count * pixels, inG = s.InPerGroup();
  std::fill(padded, padded + frame.Size(), 0.0f);
  for (int64_t j = 0; j < item.count; j++) {
    for (int64_t c = 0; c < inG; c++) {
      frame.Load(s, x + ((item.first + j) * s.cIn + item.group * inG + c) * s.Plane(), padded);
      for (int64_t ky = 0; ky < s.kh; ky++) {
        for (int64_t kx = 0; kx < s.kw; kx++) {
          float* dst = col + ((c * s.kh + ky) * s.kw + kx) * width + j * pixels;
          for (int64_t oy = 0; oy < s.outH; oy++) {
            const float* src = padded + (oy * s.strideH + ky * s.dilationH) * frame.cols + kx * s.dilationW;
            if (s.strideW == 1) {
              std::copy(src, src + s.outW, dst + oy * s.outW);
            } else {
              for (int64_t ox = 0; ox < s.outW; ox++) dst[oy * s.outW + ox] = src[ox * s.strideW];
            }
          }
        }
      }
    }
  }
}

// The adjoint of GatherColumns for one image: sums the entries of gcol (its columns
// [j * pixels, (j + 1) * pixels)) into the image's gx planes, which are overwritten.
inline void ScatterColumns(const ConvShape& s, const float* gcol, int64_t width, float* gxGroup, float* padded) {
  const PaddedPlane frame(s);
  for (int64_t c = 0; c < s.InPerGroup(); c++) {
    std::fill(padded, padded + frame.Size(), 0.0f);
    for (int64_t ky = 0; ky < s.kh; ky++) {
      for (int64_t kx = 0; kx < s.kw; kx++) {
        const float* src = gcol + ((c * s.kh + ky) * s.kw + kx) * width;
        for (int64_t oy = 0; oy < s.outH; oy++) {
          float* dst = padded + (oy * s.strideH + ky * s.dilationH) * frame.cols + kx * s.dilationW;
          for (int64_t ox = 0; ox < s.outW; ox++) dst[ox * s.strideW] += src[oy * s.outW + ox];
        }
      }
    }
    // Input pixels no tap reaches (beyond the last window) get 0.
    float* plane = gxGroup + c * s.Plane();
    for (int64_t iy = 0; iy < s.h; iy++) {
      for (int64_t ix = 0; ix < s.w; ix++) {
        const int64_t py = iy + s.padTop, px = ix + s.padLeft;
        plane[iy * s.w + ix] = py < frame.rows && px < frame.cols ? padded[py * frame.cols + px] : 0.0f;
      }
    }
  }
}

// The item's output-channel planes of y side by side: rows[co, j * pixels + p].
inline void GatherOutputs(const ConvShape& s, const float* y, const Item& item, float* rows) {
  const int64_t pixels = s.Pixels(), width = item.count * pixels, outG = s.OutPerGroup();
  for (int64_t j = 0; j < item.count; j++) {
    const float* plane = y + ((item.first + j) * s.cOut + item.group * outG) * pixels;
    for (int64_t co = 0; co < outG; co++) {
      std::copy(plane + co * pixels, plane + (co + 1) * pixels, rows + co * width + j * pixels);
    }
  }
}

// out = conv(x, weight) + bias.
inline void Forward(const ConvShape& s, const float* x, const float* weight, const float* bias, float* out,
                    int threads) {
  const int64_t perItem = ImagesPerItem(s, threads), items = ItemCount(s, perItem);
  const int64_t pixels = s.Pixels(), rows = s.ColRows(), outG = s.OutPerGroup();
#pragma omp parallel num_threads(threads)
  {
    float* col = ThreadScratch(Scratch::kColumns, rows * perItem * pixels);
    float* product = ThreadScratch(Scratch::kProducts, outG * perItem * pixels);
    float* padded = ThreadScratch(Scratch::kRows, PaddedPlane(s).Size());
#pragma omp for schedule(dynamic)
    for (int64_t index = 0; index < items; index++) {
      const Item item = ItemAt(s, index, perItem);
      const int64_t width = item.count * pixels;
      GatherColumns(s, x, item, col, padded);
      GemmSerial(outG, width, rows, weight + item.group * outG * rows, rows, false, col, width, false, product,
                 width, false);
      for (int64_t j = 0; j < item.count; j++) {
        for (int64_t co = 0; co < outG; co++) {
          const int64_t oc = item.group * outG + co;
          const float b = bias != nullptr ? bias[oc] : 0.0f;
          const float* src = product + co * width + j * pixels;
          float* dst = out + ((item.first + j) * s.cOut + oc) * pixels;
          for (int64_t p = 0; p < pixels; p++) dst[p] = src[p] + b;
        }
      }
    }
  }
}

// gx = dL/dx given gy: gcol = W^T gy for the item's images, then col2im into each image.
inline void GradInput(const ConvShape& s, const float* gy, const float* weight, float* gx, int threads) {
  const int64_t perItem = ImagesPerItem(s, threads), items = ItemCount(s, perItem);
  const int64_t pixels = s.Pixels(), rows = s.ColRows(), inG = s.InPerGroup(), outG = s.OutPerGroup();
#pragma omp parallel num_threads(threads)
  {
    float* gcol = ThreadScratch(Scratch::kColumns, rows * perItem * pixels);
    float* gyRows = ThreadScratch(Scratch::kProducts, outG * perItem * pixels);
    float* padded = ThreadScratch(Scratch::kRows, PaddedPlane(s).Size());
#pragma omp for schedule(dynamic)
    for (int64_t index = 0; index < items; index++) {
      const Item item = ItemAt(s, index, perItem);
      const int64_t width = item.count * pixels;
      GatherOutputs(s, gy, item, gyRows);
      GemmSerial(rows, width, outG, weight + item.group * outG * rows, rows, true, gyRows, width, false, gcol, width,
                 false);
      for (int64_t j = 0; j < item.count; j++) {
        float* gxGroup = gx + ((item.first + j) * s.cIn + item.group * inG) * s.Plane();
        ScatterColumns(s, gcol + j * pixels, width, gxGroup, padded);
      }
    }
  }
}

// gw = dL/dweight given x and gy. Each thread sums its items into its own copy of gw, over a
// fixed split of the items, and the copies are added in thread order: the result does not
// depend on which thread ran faster.
inline void GradWeight(const ConvShape& s, const float* x, const float* gy, float* gw, int threads) {
  const int64_t perItem = ImagesPerItem(s, threads), items = ItemCount(s, perItem);
  const int64_t pixels = s.Pixels(), rows = s.ColRows(), outG = s.OutPerGroup();
  const int64_t size = s.cOut * rows;
  float* partials = ThreadScratch(Scratch::kPartialSums, threads * size);
  std::fill(partials, partials + threads * size, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float* col = ThreadScratch(Scratch::kColumns, rows * perItem * pixels);
    float* gyRows = ThreadScratch(Scratch::kProducts, outG * perItem * pixels);
    float* padded = ThreadScratch(Scratch::kRows, PaddedPlane(s).Size());
    float* mine = partials + omp_get_thread_num() * size;
#pragma omp for schedule(static)
    for (int64_t index = 0; index < items; index++) {
      const Item item = ItemAt(s, index, perItem);
      const int64_t width = item.count * pixels;
      GatherColumns(s, x, item, col, padded);
      GatherOutputs(s, gy, item, gyRows);
      GemmSerial(outG, rows, width, gyRows, width, false, col, width, true, mine + item.group * outG * rows, rows,
                 true);
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < size; i++) {
      float sum = 0.0f;
      for (int t = 0; t < threads; t++) sum += partials[t * size + i];
      gw[i] = sum;
    }
  }
}

}  // namespace batched
}  // namespace ldm
