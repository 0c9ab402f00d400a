// The small products inside the channel-vectorised convolutions (winograd_narrow.h,
// winograd_narrow_grad_weight.h, conv_pointwise.h): C (+)= A B on the calling thread, with a
// register tile of kRows rows by two halves of 16 columns. A is read where it lies, one scalar
// at a time, broadcast; B is read where it lies too, one Vec16 per half and depth step: an
// activation, a panel of transformed tiles written just before in the layout the product
// wants, or weights in packed strips (below). The two halves of a tile may come from different
// places (the pointwise convolution joins two 4x4 images into one 32-column tile). Included by
// conv2d.cc only.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "vec.h"

namespace ldm {
namespace convgemm {

// 24 of the 32 AVX-512 registers hold accumulators; with AVX2 a Vec16 takes two of the 16
// registers, so 3 rows.
#if defined(__AVX512F__)
constexpr int kRows = 12;
#else
constexpr int kRows = 3;
#endif
// Rows of B consumed per pass over a C tile, so that a 32-column strip of B stays in L1.
constexpr int64_t kDepth = 128;

// Element (r, l) of A is a[r * rowStride + l * depthStride], or, when the depth comes in
// segments of `segment` (the pixels of one image, whose next image is segmentStride floats
// on), a[r * rowStride + (l / segment) * segmentStride + (l % segment) * depthStride].
struct Strided {
  const float* a;
  int64_t rowStride, depthStride;
  int64_t segment = int64_t{1} << 62, segmentStride = 0;

  // The same operand from depth l, a multiple of the segment length when there are segments.
  Strided From(int64_t row, int64_t l) const {
    return {a + row * rowStride + l / segment * segmentStride + l % segment * depthStride, rowStride, depthStride,
            segment, segmentStride};
  }
};

// A row stride for a row-major operand of `columns` floats per row (a multiple of 16): an odd
// number of cache lines, so that the rows of a panel spread over all L1 sets. (With a stride
// of 2^k lines, the rows of a deep panel map onto 64 / 2^k sets, fewer than the panel needs.)
inline int64_t SpreadRowStride(int64_t columns) { return columns / 16 % 2 == 1 ? columns : columns + 16; }

// One C tile of Rows rows and Halves x 16 columns: half h of row r is c[h] + r * ldc and
// (+)= sum over l < depth of a(r, l) * B_h[l], where B_h[l] is the Vec16 at b[h] + l * ldb.
template <int Rows, int Halves>
void Tile(int64_t depth, const Strided& a, const float* const* b, int64_t ldb, float* const* c, int64_t ldc,
          bool accumulate) {
  Vec16 sum[Rows][Halves];
  for (int r = 0; r < Rows; r++) {
    for (int h = 0; h < Halves; h++) {
      sum[r][h] = Vec16{};
      // C is read at the end (below); ask for it now, so that it is in L1 by then.
      if (accumulate) __builtin_prefetch(c[h] + r * ldc);
    }
  }
  const float* b0 = b[0];
  const float* b1 = Halves == 2 ? b[1] : b[0];
  for (int64_t l0 = 0; l0 < depth; l0 += a.segment) {
    const float* segment = a.a + l0 / a.segment * a.segmentStride;
    for (int64_t l = l0; l < std::min(depth, l0 + a.segment); l++) {
      const Vec16 panel[2] = {Load<Vec16>(b0 + l * ldb), Halves == 2 ? Load<Vec16>(b1 + l * ldb) : Vec16{}};
      const float* column = segment + (l - l0) * a.depthStride;
      for (int r = 0; r < Rows; r++) {
        const float x = column[r * a.rowStride];
        for (int h = 0; h < Halves; h++) sum[r][h] += x * panel[h];
      }
    }
  }
  // C is read only now: its loads do not hold up the first multiply-adds when C is not in
  // L1 (the grad weight's running sums).
  for (int r = 0; r < Rows; r++) {
    for (int h = 0; h < Halves; h++) {
      if (accumulate) sum[r][h] += Load<Vec16>(c[h] + r * ldc);
      Store(c[h] + r * ldc, sum[r][h]);
    }
  }
}

using TileFn = void (*)(int64_t, const Strided&, const float* const*, int64_t, float* const*, int64_t, bool);

// Table[rows] handles a tile of `rows` rows (1..kRows).
template <int Halves, size_t... R>
constexpr std::array<TileFn, kRows + 1> TileTable(std::index_sequence<R...>) {
  return {nullptr, Tile<static_cast<int>(R) + 1, Halves>...};
}
constexpr std::array<TileFn, kRows + 1> kTiles[3] = {
    {}, TileTable<1>(std::make_index_sequence<kRows>{}), TileTable<2>(std::make_index_sequence<kRows>{})};

// C[m, 16 * halves] (+)= A[m, k] B where half h of B is the [k, 16] panel at b[h] (row stride
// ldb) and half h of C the [m, 16] panel at c[h] (row stride ldc); halves is 1 or 2.
inline void StripProduct(int64_t m, int64_t k, Strided a, int halves, const float* const* b, int64_t ldb,
                         float* const* c, int64_t ldc, bool accumulate) {
  if (k == 0 && !accumulate) {  // an empty sum
    for (int64_t i = 0; i < m; i++) {
      for (int h = 0; h < halves; h++) Store(c[h] + i * ldc, Vec16{});
    }
    return;
  }
  // Depth blocks of whole segments.
  const int64_t block = a.segment < kDepth ? kDepth / a.segment * a.segment : kDepth;
  for (int64_t l0 = 0; l0 < k; l0 += block) {
    const int64_t depth = std::min(block, k - l0);
    const float* bBlock[2] = {b[0] + l0 * ldb, b[halves - 1] + l0 * ldb};
    for (int64_t i = 0; i < m; i += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i));
      float* cTile[2] = {c[0] + i * ldc, c[halves - 1] + i * ldc};
      const Strided aTile = a.From(i, l0);
      kTiles[halves][rows](depth, aTile, bBlock, ldb, cTile, ldc, accumulate || l0 > 0);
    }
  }
}

// Packed strips: B[k, n] stored as its column strips of 32 (the last one 16 when n is an odd
// multiple of 16) one after another, strip j (from column j) at b + j * rows with rows of
// its own width, where rows >= k leaves room for longer products in the same buffer. A strip
// is then one contiguous block that L1 holds whole, where a strip of a row-major B with a
// power-of-two row stride maps onto a few L1 sets only.
inline int64_t StripWidth(int64_t n, int64_t j) { return std::min<int64_t>(32, n - j); }

// C[m, n] (+)= A[m, k] B[k, n] with B in packed strips of bRows rows (the first k are used)
// and C row-major (row stride ldc).
inline void PackedProduct(int64_t m, int64_t n, int64_t k, Strided a, const float* b, int64_t bRows, float* c,
                          int64_t ldc, bool accumulate) {
  for (int64_t j = 0; j < n; j += 32) {
    const int64_t width = StripWidth(n, j);
    const float* bStrip[2] = {b + j * bRows, b + j * bRows + 16};
    float* cStrip[2] = {c + j, c + j + 16};
    StripProduct(m, k, a, static_cast<int>(width / 16), bStrip, width, cStrip, ldc, accumulate);
  }
}

}  // namespace convgemm
}  // namespace ldm
