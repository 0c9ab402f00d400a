// Winograd F(2x2, 3x3) (winograd.h) for maps at most 8 wide: the U-Net's 4x4 and 8x8 latents.
// There a tile row has only 2 to 4 tiles, too few to fill vectors across tiles as winograd.h
// does, so here the transforms run with 16 channels in the vector lanes: each 16-channel
// slice of an image's rows is transposed (16 x 16 register transposes, pixel_major.h) into a
// small pixel-major window, transformed tile by tile with whole-vector adds, and the products'
// tiles go back the same way. The transformed tiles are tile-major, [tile][channel], which is
// also the layout the 16 products want:
//   M[xi][tile, co] = sum_ci V[xi][tile, ci] U[xi][ci, co]
// a row of tiles times a [ci, co] panel of U (conv_gemm.h). The grad input is the same forward
// on gy with the kernels flipped and the channel axes swapped; the grad weight is in
// winograd_narrow_grad_weight.h. Included by conv2d.cc only.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common.h"
#include "conv_gemm.h"
#include "gemm_blocked.h"
#include "pixel_major.h"
#include "scratch.h"
#include "vec.h"
#include "winograd.h"

namespace ldm {
namespace winograd {
namespace narrow {

constexpr int64_t kLanes16 = kLanes<Vec16>;

inline int64_t RoundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

// Sizes of a convolution (winograd::Shape) in this layout.
// Channel counts rounded up to whole vectors: the depth and width of the tile products.
inline int64_t InPadded(const Shape& s) { return RoundUp(s.InPerGroup(), kLanes16); }
inline int64_t OutPadded(const Shape& s) { return RoundUp(s.OutPerGroup(), kLanes16); }
inline int64_t TilesH(const Shape& s) { return (s.outH + 1) / 2; }
// Tile rows over the batch: work items are runs of these.
inline int64_t TileRows(const Shape& s) { return s.n * TilesH(s); }

// Maps this narrow go here; on wider ones the tile rows fill vectors (winograd.h).
constexpr int64_t kMaxTilesW = 4;
inline bool Prefers(const Shape& s) { return s.TilesW() <= kMaxTilesW; }

// The transformed weights: matrix xi of `group`, an InPadded x OutPadded matrix [ci, co] in
// the packed strips of conv_gemm.h, starts at WeightsPlane(s) * (group * 16 + xi). The
// matrices are padded by one cache line each, as the tile blocks are (see TileBlock).
inline int64_t WeightsPlane(const Shape& s) { return InPadded(s) * OutPadded(s) + kLanes16; }
inline int64_t WeightsSize(const Shape& s) { return s.groups * 16 * WeightsPlane(s); }

// u[group][xi][ci, co] = (G g G^T)[xi] for g = weight[group * cOutG + co][ci] ([3, 3]), zero
// in the padding. With `transposed`, s is the grad-input convolution (its cIn is the
// forward's cOut) and g is the forward kernel [ci][co] flipped in both spatial axes.
inline void TransformWeights(const Shape& s, const float* weight, bool transposed, float* u, int threads) {
  const int64_t outG = s.OutPerGroup(), inG = s.InPerGroup(), inP = InPadded(s), outP = OutPadded(s);
  const int64_t slices = outP / 16, plane = WeightsPlane(s);
  const float* end = weight + s.groups * inG * outG * 9;
  // 16 output channels at a time, in the vector lanes: the 16 kernels' taps are loaded as the
  // rows of a 16 x 16 block and transposed, so that block[t] holds tap t of every kernel.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < s.groups * slices; item++) {
    const int64_t group = item / slices, co0 = item % slices * 16;
    const int64_t strip = co0 / 32 * 32, width = convgemm::StripWidth(outP, strip);
    const int64_t lanes = std::min<int64_t>(16, outG - co0);
    for (int64_t ci = 0; ci < inP; ci++) {
      Vec16 block[16] = {};
      const auto kernel = [&](int64_t lane) {
        const int64_t co = co0 + lane;
        return transposed ? weight + ((group * inG + ci) * outG + co) * 9 : weight + ((group * outG + co) * inG + ci) * 9;
      };
      if (ci < inG && lanes == 16 && kernel(15) + 16 <= end) {
        for (int lane = 0; lane < 16; lane++) block[lane] = Load<Vec16>(kernel(lane));
        gemm::Transpose16(block);
      } else if (ci < inG) {  // the last kernels of the buffer, or a partial slice
        for (int64_t lane = 0; lane < lanes; lane++) {
          for (int t = 0; t < 9; t++) block[t][lane] = kernel(lane)[t];
        }
      }
      Vec16 g[3][3];  // flipped in both axes for the grad input
      for (int t = 0; t < 9; t++) g[t / 3][t % 3] = block[transposed ? 8 - t : t];
      Vec16 gg[4][3];  // G g: combine rows
      for (int j = 0; j < 3; j++) {
        gg[0][j] = g[0][j];
        gg[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
        gg[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
        gg[3][j] = g[2][j];
      }
      // Element (ci, co0) of matrix xi, in packed strip `strip`.
      float* out = u + group * 16 * plane + strip * inP + ci * width + co0 - strip;
      for (int i = 0; i < 4; i++) {  // (G g) G^T: combine columns
        Store(out + (i * 4 + 0) * plane, gg[i][0]);
        Store(out + (i * 4 + 1) * plane, 0.5f * (gg[i][0] + gg[i][1] + gg[i][2]));
        Store(out + (i * 4 + 2) * plane, 0.5f * (gg[i][0] - gg[i][1] + gg[i][2]));
        Store(out + (i * 4 + 3) * plane, gg[i][2]);
      }
    }
  }
}

// Tile rows per work item: the block's transformed tiles (16 positions x tiles x channels,
// in and out) stay within kBlockFloats, which leaves room in L2 for the weights, unless that
// is fewer than kMinBlockTiles: every block reads all of U (16 x cIn x cOut), and with 256
// channels too few tiles per block made that the bottleneck.
constexpr int64_t kBlockFloats = int64_t{192} << 10;
constexpr int64_t kMinBlockTiles = 48;

inline int64_t TileRowsPerBlock(const Shape& s, int64_t channels, int threads) {
  const int64_t fewest = (kMinBlockTiles + s.TilesW() - 1) / s.TilesW();
  const int64_t rows = std::max(fewest, kBlockFloats / (16 * channels * s.TilesW()));
  // At least four items per thread when the batch allows, so that a preempted thread holds
  // the others up less.
  const int64_t balanced = std::max<int64_t>(1, TileRows(s) * s.groups / (4 * threads));
  return std::max<int64_t>(1, std::min({rows, balanced, TileRows(s)}));
}

// The transformed tiles of a block of tile rows: 16 planes, one per position xi, each a
// [tiles, channels] matrix, row-major (position xi of channel c of the block's tile t is
// At(xi, t)[c]) or in the packed strips of conv_gemm.h (Packed(xi, t, c) for 16 channels
// from c). The planes are padded by one cache line each: tiles times row stride is often a
// multiple of 4 KiB, and 16 streams written side by side would otherwise share one L1 set.
struct TileBlock {
  float* data;
  int64_t channels, tiles, ld, plane;  // ld: row stride of the row-major layout
  int64_t first = 0;                   // tile 0 of this view is tile `first` of the planes

  float* At(int64_t xi, int64_t t) const { return data + xi * plane + (first + t) * ld; }
  float* Packed(int64_t xi, int64_t t, int64_t c) const {
    const int64_t strip = c / 32 * 32;
    return data + xi * plane + strip * tiles + (first + t) * convgemm::StripWidth(channels, strip) + c - strip;
  }
  // The view whose tile 0 is this view's tile t.
  TileBlock From(int64_t t) const {
    TileBlock view = *this;
    view.first += t;
    return view;
  }
};

// This thread's `slot` scratch as a block of `tiles` x `channels` (a multiple of 16) with
// row stride ld >= channels.
inline TileBlock ThreadTileBlock(Scratch slot, int64_t tiles, int64_t channels, int64_t ld) {
  const int64_t plane = tiles * ld + kLanes16;
  return TileBlock{ThreadScratch(slot, 16 * plane), channels, tiles, ld, plane};
}

// Calls visit(image, ty0, ty1, t) for each image's run of tile rows [ty0, ty1) within the
// block of tile rows [r0, r1); t is the run's first tile within the block.
template <typename Visit>
void ForEachImageRun(const Shape& s, int64_t r0, int64_t r1, Visit visit) {
  const int64_t tilesH = TilesH(s);
  for (int64_t r = r0; r < r1;) {
    const int64_t image = r / tilesH, ty0 = r % tilesH, ty1 = std::min(tilesH, ty0 + (r1 - r));
    visit(image, ty0, ty1, (r - r0) * s.TilesW());
    r += ty1 - ty0;
  }
}

// Input rows [iy0, iy1) (clipped to the image) of 16 channels of one image into `frame`, a
// pixel-major [rows][cols][16] window whose row 0 is input row `top` and column 0 input column
// -padLeft. Window cells outside the image are left as they are (zero).
inline void LoadWindow(const Shape& s, const float* planes, int64_t channels, int64_t top, int64_t rows,
                       int64_t cols, float* frame) {
  const int64_t iy0 = std::max<int64_t>(0, top), iy1 = std::min(s.h, top + rows);
  const int64_t ix0 = std::max<int64_t>(0, -s.padLeft), ix1 = std::min(s.w, cols - s.padLeft);
  if (iy0 >= iy1 || ix0 >= ix1) return;
  const int64_t plane = s.h * s.w;
  float* corner = frame + ((iy0 - top) * cols + ix0 + s.padLeft) * 16;
  if (ix0 == 0 && ix1 == s.w) {  // whole rows: one contiguous run of the plane
    PlanesToPixels(planes + iy0 * s.w, plane, channels, (iy1 - iy0) * s.w, s.w, corner, cols * 16, 16);
    return;
  }
  for (int64_t iy = iy0; iy < iy1; iy++) {
    PlanesToPixels(planes + iy * s.w + ix0, plane, channels, ix1 - ix0, ix1 - ix0, corner + (iy - iy0) * cols * 16,
                   0, 16);
  }
}

// Zeroes the cells of such a window that lie outside the image (the padding), which
// LoadWindow leaves as they are.
inline void ZeroBorder(const Shape& s, int64_t top, int64_t rows, int64_t cols, float* frame) {
  const int64_t r0 = std::clamp<int64_t>(-top, 0, rows), r1 = std::clamp<int64_t>(s.h - top, r0, rows);
  const int64_t c0 = std::clamp<int64_t>(s.padLeft, 0, cols), c1 = std::clamp<int64_t>(s.w + s.padLeft, c0, cols);
  for (int64_t r = 0; r < rows; r++) {
    float* row = frame + r * cols * 16;
    if (r < r0 || r >= r1 || c0 == c1) {
      std::fill(row, row + cols * 16, 0.0f);
      continue;
    }
    std::fill(row, row + c0 * 16, 0.0f);
    std::fill(row + c1 * 16, row + cols * 16, 0.0f);
  }
}

// Floats of the per-thread window scratch for blocks of `tileRows` tile rows.
inline int64_t WindowSize(const Shape& s, int64_t tileRows) { return (2 * tileRows + 2) * (2 * s.TilesW() + 2) * 16; }

// (B^T d B)[xi] to out + xi * step for the 4x4 patch d of pixel vectors (pixel (i, j) at
// d + i * rowStep + j * 16). The pointers advance one store at a time: with 16 planes and a
// window row to address, the compiler otherwise keeps the offsets on the stack.
inline void InputTile(const float* d, int64_t rowStep, float* out, int64_t step) {
  Vec16 r[4][4];  // B^T d: combine rows
  for (int j = 0; j < 4; j++) {
    const Vec16 d0 = Load<Vec16>(d + j * 16), d1 = Load<Vec16>(d + rowStep + j * 16);
    const Vec16 d2 = Load<Vec16>(d + 2 * rowStep + j * 16), d3 = Load<Vec16>(d + 3 * rowStep + j * 16);
    r[0][j] = d0 - d2;
    r[1][j] = d1 + d2;
    r[2][j] = d2 - d1;
    r[3][j] = d1 - d3;
  }
  for (int k = 0; k < 4; k++) {  // (B^T d) B: combine columns
    Store(out, r[k][0] - r[k][2]);
    out += step;
    Store(out, r[k][1] + r[k][2]);
    out += step;
    Store(out, r[k][2] - r[k][1]);
    out += step;
    Store(out, r[k][1] - r[k][3]);
    out += step;
  }
}

// v.At(xi, t) = (B^T d B)[xi] for the tiles of the block [r0, r1) of tile rows of `group` of
// x, where d is the 4x4 input patch of the tile; 16 channels at a time.
inline void TransformInput(const Shape& s, const float* x, int64_t group, int64_t r0, int64_t r1, const TileBlock& v,
                           float* window) {
  const int64_t inG = s.InPerGroup(), tilesW = s.TilesW(), cols = 2 * tilesW + 2;
  ForEachImageRun(s, r0, r1, [&](int64_t image, int64_t ty0, int64_t ty1, int64_t t0) {
    const int64_t rows = 2 * (ty1 - ty0) + 2, top = 2 * ty0 - s.padTop;
    ZeroBorder(s, top, rows, cols, window);  // every channel slice writes the same cells
    const int64_t iy0 = std::clamp<int64_t>(top, 0, s.h), iy1 = std::clamp<int64_t>(top + rows, iy0, s.h);
    for (int64_t c0 = 0; c0 < inG; c0 += 16) {
      const float* planes = x + (image * s.cIn + group * inG + c0) * s.h * s.w;
      if (c0 + 16 < inG) {
        PrefetchPlanes(planes + 16 * s.h * s.w, s.h * s.w, std::min<int64_t>(16, inG - c0 - 16), iy0 * s.w,
                       (iy1 - iy0) * s.w, false);
      }
      LoadWindow(s, planes, std::min<int64_t>(16, inG - c0), top, rows, cols, window);
      for (int64_t ty = ty0; ty < ty1; ty++) {
        for (int64_t tx = 0; tx < tilesW; tx++) {
          InputTile(window + (2 * (ty - ty0) * cols + 2 * tx) * 16, cols * 16,
                    v.At(0, t0 + (ty - ty0) * tilesW + tx) + c0, v.plane);
        }
      }
    }
  });
}

// out = A^T m A (+ bias) for the tiles of the block [r0, r1) of tile rows of `group`,
// cropped to outH x outW; 16 output channels at a time through a pixel-major window.
inline void TransformOutput(const Shape& s, const float* bias, int64_t group, int64_t r0, int64_t r1,
                            const TileBlock& m, float* window, float* out) {
  const int64_t outG = s.OutPerGroup(), tilesW = s.TilesW(), cols = 2 * tilesW;
  ForEachImageRun(s, r0, r1, [&](int64_t image, int64_t ty0, int64_t ty1, int64_t t0) {
    const int64_t oy0 = 2 * ty0, oy1 = std::min(s.outH, 2 * ty1);
    for (int64_t c0 = 0; c0 < outG; c0 += 16) {
      const int64_t channels = std::min<int64_t>(16, outG - c0);
      float* planes = out + ((image * s.cOut + group * outG + c0) * s.outH + oy0) * s.outW;
      const int64_t plane = s.outH * s.outW;
      if (c0 + 16 < outG) {
        PrefetchPlanes(planes + 16 * plane, plane, std::min<int64_t>(16, outG - c0 - 16), 0, (oy1 - oy0) * s.outW, true);
      }
      Vec16 b{};
      if (bias != nullptr) {
        for (int c = 0; c < channels; c++) b[c] = bias[group * outG + c0 + c];
      }
      for (int64_t ty = ty0; ty < ty1; ty++) {
        for (int64_t tx = 0; tx < tilesW; tx++) {
          const int64_t t = t0 + (ty - ty0) * tilesW + tx;
          Vec16 s0[4], s1[4];  // A^T m: combine rows
          for (int j = 0; j < 4; j++) {
            const Vec16 m0 = Load<Vec16>(m.At(j, t) + c0), m1 = Load<Vec16>(m.At(4 + j, t) + c0);
            const Vec16 m2 = Load<Vec16>(m.At(8 + j, t) + c0), m3 = Load<Vec16>(m.At(12 + j, t) + c0);
            s0[j] = m0 + m1 + m2;
            s1[j] = m1 - m2 - m3;
          }
          float* y = window + (2 * (ty - ty0) * cols + 2 * tx) * 16;  // (A^T m) A
          Store(y, s0[0] + s0[1] + s0[2] + b);
          Store(y + 16, s0[1] - s0[2] - s0[3] + b);
          Store(y + cols * 16, s1[0] + s1[1] + s1[2] + b);
          Store(y + (cols + 1) * 16, s1[1] - s1[2] - s1[3] + b);
        }
      }
      if (s.outW == cols) {  // whole rows: one contiguous run of the plane and of the window
        PixelsToPlanes(window, 16, (oy1 - oy0) * cols, channels, planes, plane);
        continue;
      }
      for (int64_t oy = oy0; oy < oy1; oy++) {
        PixelsToPlanes(window + (oy - oy0) * cols * 16, 16, s.outW, channels, planes + (oy - oy0) * s.outW, plane);
      }
    }
  });
}

// out = conv3x3(x) (+ bias) given the transformed weights u (TransformWeights).
inline void Forward(const Shape& s, const float* x, const float* u, const float* bias, float* out, int threads) {
  const int64_t inP = InPadded(s), outP = OutPadded(s);
  const int64_t perBlock = TileRowsPerBlock(s, inP + outP, threads);
  const int64_t blocks = (TileRows(s) + perBlock - 1) / perBlock, tiles = perBlock * s.TilesW();
#pragma omp parallel num_threads(threads)
  {
    const TileBlock v = ThreadTileBlock(Scratch::kTransformed, tiles, inP, inP);
    const TileBlock m = ThreadTileBlock(Scratch::kProducts, tiles, outP, outP);
    float* window = ThreadScratch(Scratch::kRows, WindowSize(s, perBlock));
#pragma omp for schedule(dynamic)
    for (int64_t item = 0; item < blocks * s.groups; item++) {
      const int64_t group = item % s.groups, r0 = item / s.groups * perBlock;
      const int64_t r1 = std::min(TileRows(s), r0 + perBlock), count = (r1 - r0) * s.TilesW();
      TransformInput(s, x, group, r0, r1, v, window);
      for (int xi = 0; xi < 16; xi++) {
        const float* uGroup = u + (group * 16 + xi) * WeightsPlane(s);
        convgemm::PackedProduct(count, outP, inP, {v.At(xi, 0), v.ld, 1}, uGroup, inP, m.At(xi, 0), m.ld, false);
      }
      TransformOutput(s, bias, group, r0, r1, m, window, out);
    }
  }
}

}  // namespace narrow
}  // namespace winograd
}  // namespace ldm
