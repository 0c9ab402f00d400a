// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) for 3x3, stride-1, undilated convolutions: the U-Net's workhorse.
// Each 2x2 output tile is
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A                                       (Lavin eq. 8)
// with d the 4x4 input tile and g the 3x3 kernel, so that summing over input channels turns
// into 16 independent GEMMs, one per position xi of the 4x4 transformed tile:
//   M[xi][co, tile] = sum_ci U[xi][co, ci] V[xi][ci, tile].
// That is 16 multiplies per 2x2 outputs instead of 36 (2.25x fewer); the transforms use only
// +-1 and 1/2, so the result is as accurate as direct convolution in float32 (F(4x4, 3x3)
// would save more but loses about a digit).
// The grad input is the same forward, on gy, with kernels flipped and in/out channels swapped;
// the grad weight is in winograd_grad_weight.h. Maps at most 8 wide, whose tile rows are too
// short to fill vectors, go to winograd_narrow.h instead. Included by conv2d.cc only (the
// build's source list is fixed, so this lives in a header).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "gemm.h"
#include "scratch.h"
#include "vec.h"

namespace ldm {
namespace winograd {

// Tiles per work item. 128 measured best at 64 and 128 channels: more GEMM columns than 64,
// while the 16 x channels x 128 transformed blocks still sit in L2.
constexpr int64_t kBlock = 128;

// A 3x3, stride-1, undilated convolution. Padding may be negative (the grad-input pass
// crops when the forward padded by more than 2).
struct Shape {
  int64_t n, cIn, h, w, cOut, padTop, padLeft, groups, outH, outW;

  int64_t InPerGroup() const { return cIn / groups; }
  int64_t OutPerGroup() const { return cOut / groups; }
  int64_t TilesW() const { return (outW + 1) / 2; }
  int64_t TilesPerImage() const { return (outH + 1) / 2 * TilesW(); }
  int64_t Tiles() const { return n * TilesPerImage(); }
  // Tiles per work item (see kBlock).
  int64_t Block() const;
};

inline int64_t Shape::Block() const { return std::clamp<int64_t>(Tiles(), 1, kBlock); }

// u[group][xi][co][ci] = (G g G^T)[xi] for g = weight[group * cOutG + co][ci] ([3, 3]).
// With `transposed`, s is the grad-input convolution (its cIn is the forward's cOut) and g
// is the forward kernel [ci][co] flipped in both spatial axes.
inline void TransformWeights(const Shape& s, const float* weight, bool transposed, float* u, int threads) {
  const int64_t outG = s.OutPerGroup(), inG = s.InPerGroup();
  // Tap (i, j) of kernel (co, ci) is weight[base + ci * ciStride + tap[3i + j]].
  const int64_t ciStride = transposed ? outG * 9 : 9;
  int64_t tap[9];
  for (int k = 0; k < 9; k++) tap[k] = transposed ? 8 - k : k;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t oc = 0; oc < s.cOut; oc++) {
    const int64_t group = oc / outG, co = oc % outG;
    const float* kernels = weight + (transposed ? (group * inG * outG + co) * 9 : oc * inG * 9);
    float* out[16];
    for (int xi = 0; xi < 16; xi++) out[xi] = u + ((group * 16 + xi) * outG + co) * inG;
#pragma omp simd
    for (int64_t ci = 0; ci < inG; ci++) {  // one kernel per iteration, vectorised across ci
      const float* k = kernels + ci * ciStride;
      float gg[4][3];  // G g: combine rows
      for (int j = 0; j < 3; j++) {
        const float g0 = k[tap[j]], g1 = k[tap[3 + j]], g2 = k[tap[6 + j]];
        gg[0][j] = g0;
        gg[1][j] = 0.5f * (g0 + g1 + g2);
        gg[2][j] = 0.5f * (g0 - g1 + g2);
        gg[3][j] = g2;
      }
      for (int i = 0; i < 4; i++) {  // (G g) G^T: combine columns
        out[i * 4 + 0][ci] = gg[i][0];
        out[i * 4 + 1][ci] = 0.5f * (gg[i][0] + gg[i][1] + gg[i][2]);
        out[i * 4 + 2][ci] = 0.5f * (gg[i][0] - gg[i][1] + gg[i][2]);
        out[i * 4 + 3][ci] = gg[i][2];
      }
    }
  }
}

// Calls visit(image, ty, tx0, count, offset) for each run of tiles [t0, t1) within one tile
// row; offset is the first tile's index within the block.
template <typename Visit>
void ForEachTileRun(const Shape& s, int64_t t0, int64_t t1, Visit visit) {
  const int64_t perImage = s.TilesPerImage(), tilesW = s.TilesW();
  for (int64_t t = t0; t < t1;) {
    const int64_t image = t / perImage, ty = t % perImage / tilesW, tx0 = t % tilesW;
    const int64_t count = std::min(tilesW - tx0, t1 - t);
    visit(image, ty, tx0, count, t - t0);
    t += count;
  }
}

// Row stride of the transformed blocks: a multiple of 16 floats, so rows stay aligned, plus
// 16 of slack: a vector store may run up to 15 tiles past a run of tiles (into the next
// run's place, rewritten later, or into the slack), and GemmInPlace rounds the columns up
// to a multiple of 32 (the slack columns are computed and never read).
inline int64_t BlockStride(int64_t block) { return (block + 15) / 16 * 16 + kLanes<Vec16>; }
static_assert(kGemmInPlaceColumns <= 16 + kLanes<Vec16>, "BlockStride leaves too little slack for GemmInPlace");

// A block of transformed tiles: position xi of channel c of tile t is At(xi, c)[t]. The 16
// planes are padded by one cache line each: channels times row stride is often a multiple
// of 4 KiB, and 16 streams written side by side would otherwise share one L1 set.
struct TileBlock {
  float* data;
  int64_t ld, plane;
  float* At(int64_t xi, int64_t c) const { return data + xi * plane + c * ld; }
};

// This thread's `slot` scratch as a block of `channels` x `block` tiles.
inline TileBlock ThreadTileBlock(Scratch slot, int64_t channels, int64_t block) {
  const int64_t ld = BlockStride(block), plane = channels * ld + kLanes<Vec16>;
  return TileBlock{ThreadScratch(slot, 16 * plane), ld, plane};
}

// Tile runs (see ForEachTileRun) a block of `block` tiles can hold, at most.
inline int64_t MaxRuns(const Shape& s, int64_t block) { return std::min(block, block / s.TilesW() + 2); }

// Floats of scratch TransformInput needs: a zero row, then four rows of B^T d per tile run,
// each 2 columns per tile plus 2, with room for a whole Vec16 of tiles past the run.
inline int64_t RowSpan(const Shape& s) { return 2 * (s.TilesW() + kLanes<Vec16>) + 2; }
inline int64_t InputScratch(const Shape& s, int64_t block) { return s.w + MaxRuns(s, block) * 4 * RowSpan(s); }

// B^T d on columns [lo, hi) of four input rows d0..d3. Whole vectors are loaded before any
// store: the compiler would otherwise reload them in case the stores alias the inputs.
inline void CombineRows(const float* d0, const float* d1, const float* d2, const float* d3, int64_t lo, int64_t hi,
                        float* r0, float* r1, float* r2, float* r3) {
  int64_t j = lo;
  for (; j + kLanes<Vec16> <= hi; j += kLanes<Vec16>) {
    const Vec16 a = Load<Vec16>(d0 + j), b = Load<Vec16>(d1 + j), c = Load<Vec16>(d2 + j), e = Load<Vec16>(d3 + j);
    Store(r0 + j, a - c);
    Store(r1 + j, b + c);
    Store(r2 + j, c - b);
    Store(r3 + j, b - e);
  }
  for (; j < hi; j++) {
    const float a = d0[j], b = d1[j], c = d2[j], e = d3[j];
    r0[j] = a - c;
    r1[j] = b + c;
    r2[j] = c - b;
    r3[j] = b - e;
  }
}

// (B^T d) B for kLanes<V> tiles: out_q[i] combines columns 2i .. 2i + 3 of the row r.
template <typename V>
void CombineColumns(const float* r, float* out0, float* out1, float* out2, float* out3) {
  constexpr int64_t n = kLanes<V>;
  const V a = Load<V>(r), b = Load<V>(r + n), c = Load<V>(r + 2), d = Load<V>(r + n + 2);
  const V r0 = Even(a, b), r1 = Odd(a, b), r2 = Even(c, d), r3 = Odd(c, d);  // r[2i + q]
  Store(out0, r0 - r2);
  Store(out1, r1 + r2);
  Store(out2, r2 - r1);
  Store(out3, r1 - r3);
}

// v[xi][c][t] = (B^T d B)[xi] for the tiles [t0, t1) of the channels of `group` of x, where
// d is the 4x4 input patch of the tile. B^T d goes through scratch and is read back at other
// offsets; a vector load that straddles two recent stores cannot take its data from the
// store buffer and waits until they reach the cache, so each channel first combines the rows
// of all its runs, then the columns.
inline void TransformInput(const Shape& s, const float* x, int64_t group, int64_t t0, int64_t t1, const TileBlock& v,
                           float* scratch) {
  struct Run {
    int64_t image, ty, count, offset, ix0, jLo, jHi;  // input columns ix0 + j, j in [jLo, jHi), exist
  };
  Run runs[kBlock];  // MaxRuns(s, t1 - t0) <= t1 - t0 <= kBlock
  int64_t runCount = 0;
  ForEachTileRun(s, t0, t1, [&](int64_t image, int64_t ty, int64_t tx0, int64_t count, int64_t offset) {
    const int64_t length = 2 * count + 2, ix0 = 2 * tx0 - s.padLeft;
    const int64_t jLo = std::clamp<int64_t>(-ix0, 0, length), jHi = std::clamp<int64_t>(s.w - ix0, jLo, length);
    runs[runCount++] = Run{image, ty, count, offset, ix0, jLo, jHi};
  });
  const int64_t inG = s.InPerGroup(), span = RowSpan(s), xiStride = v.plane;
  const float* zeros = scratch;  // stands in for input rows above or below the image
  // Columns outside [jLo, jHi) stay 0: every channel writes the same columns of a run.
  std::fill(scratch, scratch + InputScratch(s, t1 - t0), 0.0f);
  // Channel by channel, so that each plane is read top to bottom while it is in cache. (More
  // channels per pass, to give the stores longer to drain, measured slower.)
  for (int64_t c = 0; c < inG; c++) {
    for (int64_t i = 0; i < runCount; i++) {  // B^T d: combine rows
      const Run& run = runs[i];
      const float* plane = x + (run.image * s.cIn + group * inG + c) * s.h * s.w;
      const float* d[4];  // the four input rows of the tile row, indexed by input column
      for (int k = 0; k < 4; k++) {
        const int64_t iy = 2 * run.ty - s.padTop + k;
        d[k] = iy >= 0 && iy < s.h ? plane + iy * s.w : zeros;
      }
      float* r = scratch + s.w + i * 4 * span;
      CombineRows(d[0] + run.ix0, d[1] + run.ix0, d[2] + run.ix0, d[3] + run.ix0, run.jLo, run.jHi, r, r + span,
                  r + 2 * span, r + 3 * span);
    }
    for (int64_t i = 0; i < runCount; i++) {  // (B^T d) B: combine columns
      const Run& run = runs[i];
      for (int k = 0; k < 4; k++) {
        const float* r = scratch + s.w + (i * 4 + k) * span;
        float* out = v.At(k * 4, c) + run.offset;
        if (run.count <= kLanes<Vec8>) {
          CombineColumns<Vec8>(r, out, out + xiStride, out + 2 * xiStride, out + 3 * xiStride);
          continue;
        }
        for (int64_t t = 0; t < run.count; t += kLanes<Vec16>) {
          CombineColumns<Vec16>(r + 2 * t, out + t, out + xiStride + t, out + 2 * xiStride + t,
                                out + 3 * xiStride + t);
        }
      }
    }
  }
}

// A^T m A (+ b) for kLanes<V> tiles from tile i0, where mt[xi] points at position xi of tile
// 0; writes the 2x2 outputs of tile i0 + i to row0[2i], row0[2i + 1] (and row1, if any).
template <typename V>
void OutputTiles(const float* const* mt, int64_t i0, float b, float* row0, float* row1) {
  constexpr int64_t n = kLanes<V>;
  V m[16];
  for (int xi = 0; xi < 16; xi++) m[xi] = Load<V>(mt[xi] + i0);
  V s0[4], s1[4];  // A^T m: combine rows
  for (int j = 0; j < 4; j++) {
    s0[j] = m[j] + m[4 + j] + m[8 + j];
    s1[j] = m[4 + j] - m[8 + j] - m[12 + j];
  }
  const V y00 = s0[0] + s0[1] + s0[2] + b, y01 = s0[1] - s0[2] - s0[3] + b;  // (A^T m) A
  Store(row0, ZipLow(y00, y01));
  Store(row0 + n, ZipHigh(y00, y01));
  if (row1 != nullptr) {
    const V y10 = s1[0] + s1[1] + s1[2] + b, y11 = s1[1] - s1[2] - s1[3] + b;
    Store(row1, ZipLow(y10, y11));
    Store(row1 + n, ZipHigh(y10, y11));
  }
}

// The same for one tile, writing only `columns` (1 or 2) of each row.
inline void OutputTile(const float* const* mt, int64_t i, float b, int64_t columns, float* row0, float* row1) {
  float s0[4], s1[4];
  for (int j = 0; j < 4; j++) {
    s0[j] = mt[j][i] + mt[4 + j][i] + mt[8 + j][i];
    s1[j] = mt[4 + j][i] - mt[8 + j][i] - mt[12 + j][i];
  }
  row0[0] = s0[0] + s0[1] + s0[2] + b;
  if (columns == 2) row0[1] = s0[1] - s0[2] - s0[3] + b;
  if (row1 == nullptr) return;
  row1[0] = s1[0] + s1[1] + s1[2] + b;
  if (columns == 2) row1[1] = s1[1] - s1[2] - s1[3] + b;
}

// out tiles [t0, t1) of `group` = A^T m A (+ bias), cropped to outH x outW.
inline void TransformOutput(const Shape& s, const float* bias, int64_t group, int64_t t0,
                            int64_t t1, const TileBlock& m, float* out) {
  const int64_t outG = s.OutPerGroup();
  for (int64_t co = 0; co < outG; co++) {
    const int64_t oc = group * outG + co;
    const float b = bias != nullptr ? bias[oc] : 0.0f;
    ForEachTileRun(s, t0, t1, [&](int64_t image, int64_t ty, int64_t tx0, int64_t count, int64_t offset) {
      const float* mt[16];
      for (int xi = 0; xi < 16; xi++) mt[xi] = m.At(xi, co) + offset;
      float* row0 = out + ((image * s.cOut + oc) * s.outH + 2 * ty) * s.outW + 2 * tx0;
      float* row1 = 2 * ty + 1 < s.outH ? row0 + s.outW : nullptr;
      const auto at = [](float* row, int64_t i) { return row == nullptr ? nullptr : row + 2 * i; };
      // Tiles whose two columns both lie inside the output; the last may hang over by one.
      const int64_t whole = std::min(count, s.outW / 2 - tx0);
      int64_t i = 0;
      for (; i + kLanes<Vec16> <= whole; i += kLanes<Vec16>) OutputTiles<Vec16>(mt, i, b, at(row0, i), at(row1, i));
      for (; i + kLanes<Vec8> <= whole; i += kLanes<Vec8>) OutputTiles<Vec8>(mt, i, b, at(row0, i), at(row1, i));
      for (; i < count; i++) OutputTile(mt, i, b, i < whole ? 2 : 1, at(row0, i), at(row1, i));
    });
  }
}

// out = conv3x3(x) (+ bias) given the transformed weights u (TransformWeights).
inline void Forward(const Shape& s, const float* x, const float* u, const float* bias, float* out, int threads) {
  const int64_t inG = s.InPerGroup(), outG = s.OutPerGroup(), block = s.Block();
  const int64_t blocks = (s.Tiles() + block - 1) / block;
#pragma omp parallel num_threads(threads)
  {
    const TileBlock v = ThreadTileBlock(Scratch::kTransformed, inG, block);
    const TileBlock m = ThreadTileBlock(Scratch::kProducts, outG, block);
    float* rows = ThreadScratch(Scratch::kRows, InputScratch(s, block));
#pragma omp for schedule(dynamic)
    for (int64_t item = 0; item < blocks * s.groups; item++) {
      const int64_t group = item % s.groups, t0 = item / s.groups * block;
      const int64_t t1 = std::min(s.Tiles(), t0 + block);
      TransformInput(s, x, group, t0, t1, v, rows);
      for (int xi = 0; xi < 16; xi++) {
        const float* uGroup = u + (group * 16 + xi) * outG * inG;
        GemmInPlace(outG, t1 - t0, inG, uGroup, inG, v.At(xi, 0), v.ld, m.At(xi, 0), m.ld);
      }
      TransformOutput(s, bias, group, t0, t1, m, out);
    }
  }
}

}  // namespace winograd
}  // namespace ldm
