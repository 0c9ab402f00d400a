// The serial GEMM behind GemmSerial (gemm.h): C[m, n] (+)= op(A) @ op(B) on one thread, in
// the blocked layout of Goto & van de Geijn ("Anatomy of High-Performance Matrix
// Multiplication", 2008): op(B) is packed in kKc x kNr panels that stay in L1 while a
// register tile of kMr x kNr accumulators sweeps down the rows of A.
//
// The U-Net's products are mostly thin: [4096, 32] @ [32, 32], weight gradients with k =
// 4096 and m = n = 32, and so on. For those, packing A costs as much as the multiply-adds,
// so when op(B) has few columns the micro-kernel reads A where it lies (kMr row streams, or
// one contiguous run per step when A is stored transposed) and only B is packed. Wide
// products pack A too, in kMc x kKc blocks that stay in L2. A column bias can start the
// accumulators (a linear layer's bias at no extra pass). Included by matmul.cc (the GEMM)
// and by the narrow-map convolution headers (for Transpose16).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "scratch.h"
#include "vec.h"

namespace ldm {
namespace gemm {

constexpr int64_t kNr = 32;  // columns of the register tile: two Vec16
// Rows of the register tile: 24 accumulators of the 32 AVX-512 registers; with AVX2 a Vec16
// takes two of the 16 registers, so 3 rows.
#if defined(__AVX512F__)
constexpr int kMr = 12;
#else
constexpr int kMr = 3;
#endif
constexpr int64_t kKc = 256;  // depth of a packed B panel (kKc x kNr floats = 32 KiB)
constexpr int64_t kMc = 144;  // rows of a packed A block (kMc x kKc floats = 144 KiB)
constexpr int64_t kNc = 1024;  // columns of B packed at once
// op(B) at most this wide: A is read in place rather than packed.
constexpr int64_t kMaxUnpackedN = 512;

// One butterfly stage of a 16x16 transpose: swaps the off-diagonal B x B blocks of the
// 2B x 2B blocks spanning rows x and y (= x + B). After the stages 8, 4, 2, 1 the 16 vectors
// hold the transposed block.
template <int B, size_t... C>
inline void Butterfly(Vec16& x, Vec16& y, std::index_sequence<C...>) {
  const Vec16 low = __builtin_shufflevector(x, y, ((C & B) == 0 ? C : 16 + C - B)...);
  const Vec16 high = __builtin_shufflevector(x, y, ((C & B) == 0 ? C + B : 16 + C)...);
  x = low;
  y = high;
}

template <int B>
inline void TransposeStage(Vec16 (&rows)[16]) {
  for (int r = 0; r < 16; r++) {
    if ((r & B) == 0) Butterfly<B>(rows[r], rows[r + B], std::make_index_sequence<16>{});
  }
}

inline void Transpose16(Vec16 (&rows)[16]) {
  TransposeStage<8>(rows);
  TransposeStage<4>(rows);
  TransposeStage<2>(rows);
  TransposeStage<1>(rows);
}

// Packs op(B)[0:kc, 0:n] as panels of kNr columns, panel p at out + p * kc * kNr holding
// kc rows of kNr floats (zero past column n, up to the 16 or 32 columns the kernel reads).
// B is [kc, n] (row stride ldb), or [n, kc] when transposed, which is transposed 16x16
// blocks at a time.
inline void PackB(int64_t kc, int64_t n, const float* b, int64_t ldb, bool transB, float* out) {
  for (int64_t j0 = 0; j0 < n; j0 += kNr) {
    const int64_t width = std::min(kNr, n - j0);
    float* panel = out + j0 * kc;
    if (!transB) {
      for (int64_t l = 0; l < kc; l++) {
        const float* src = b + l * ldb + j0;
        float* dst = panel + l * kNr;
        if (width == kNr) {
          Store(dst, Load<Vec16>(src));
          Store(dst + 16, Load<Vec16>(src + 16));
        } else {
          std::copy(src, src + width, dst);
          std::fill(dst + width, dst + (width <= 16 ? 16 : kNr), 0.0f);
        }
      }
      continue;
    }
    const float* rows[kNr];
    for (int64_t j = 0; j < width; j++) rows[j] = b + (j0 + j) * ldb;
    // Whole groups of 16 columns and 16 steps go through register transposes; the rest,
    // and the zero padding, one value at a time.
    const int64_t blockedColumns = width / 16 * 16, blockedDepth = kc / 16 * 16;
    for (int64_t l0 = 0; l0 < blockedDepth; l0 += 16) {
      for (int64_t j = 0; j < blockedColumns; j += 16) {
        Vec16 block[16];
        for (int i = 0; i < 16; i++) block[i] = Load<Vec16>(rows[j + i] + l0);
        Transpose16(block);
        for (int l = 0; l < 16; l++) Store(panel + (l0 + l) * kNr + j, block[l]);
      }
    }
    const int64_t padded = width <= 16 ? 16 : kNr;  // the columns the micro-kernel will read
    for (int64_t l = 0; l < kc; l++) {
      float* dst = panel + l * kNr;
      for (int64_t j = l < blockedDepth ? blockedColumns : 0; j < width; j++) dst[j] = rows[j][l];
      std::fill(dst + width, dst + padded, 0.0f);
    }
  }
}

// Packs op(A)[0:m, 0:kc] as panels of kMr rows, panel p at out + p * kc * kMr holding, for
// each l, the kMr values of column l (zero past row m). A is [m, kc] (row stride lda), or
// [kc, m] when transposed.
inline void PackA(int64_t m, int64_t kc, const float* a, int64_t lda, bool transA, float* out) {
  for (int64_t i0 = 0; i0 < m; i0 += kMr) {
    const int64_t height = std::min<int64_t>(kMr, m - i0);
    float* panel = out + i0 * kc;
    for (int64_t l = 0; l < kc; l++) {
      float* dst = panel + l * kMr;
      int64_t r = 0;
      if (transA) {
        for (; r < height; r++) dst[r] = a[l * lda + i0 + r];
      } else {
        for (; r < height; r++) dst[r] = a[(i0 + r) * lda + l];
      }
      for (; r < kMr; r++) dst[r] = 0.0f;
    }
  }
}

// C[0:Rows, 0:cols] (+)= A-tile @ B-panel over depth kc, where element (r, l) of the A tile
// is a[r * rowStride + l * depthStride] and the B panel is packed (kNr floats per l). With
// Halves = 1 only the panel's first 16 columns are computed (cols <= 16: the output layer,
// pointwise convolutions of 4x4 images). A non-null `bias` (cols floats, one per column)
// starts every row's sums, so that a linear layer's bias costs no pass of its own.
template <int Rows, int Halves>
void MicroKernel(int64_t kc, const float* a, int64_t rowStride, int64_t depthStride, const float* b, float* c,
                 int64_t ldc, int64_t cols, bool accumulate, const float* bias) {
  Vec16 start[Halves] = {};
  if (bias != nullptr) {
    float padded[16 * Halves] = {};
    std::copy(bias, bias + std::min<int64_t>(cols, 16 * Halves), padded);
    for (int h = 0; h < Halves; h++) start[h] = Load<Vec16>(padded + 16 * h);
  }
  Vec16 sum[Rows][Halves];
  for (int r = 0; r < Rows; r++) {
    for (int h = 0; h < Halves; h++) sum[r][h] = start[h];
  }
  for (int64_t l = 0; l < kc; l++) {
    Vec16 panel[Halves];
    for (int h = 0; h < Halves; h++) panel[h] = Load<Vec16>(b + l * kNr + 16 * h);
    const float* column = a + l * depthStride;
    for (int r = 0; r < Rows; r++) {
      const float x = column[r * rowStride];
      for (int h = 0; h < Halves; h++) sum[r][h] += x * panel[h];
    }
  }
  for (int r = 0; r < Rows; r++) {
    float* row = c + r * ldc;
    if (cols == 16 * Halves) {
      for (int h = 0; h < Halves; h++) {
        if (accumulate) sum[r][h] += Load<Vec16>(row + 16 * h);
        Store(row + 16 * h, sum[r][h]);
      }
    } else {
      float tile[16 * Halves];
      for (int h = 0; h < Halves; h++) Store(tile + 16 * h, sum[r][h]);
      for (int64_t j = 0; j < cols; j++) row[j] = accumulate ? row[j] + tile[j] : tile[j];
    }
  }
}

using MicroKernelFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, float*, int64_t, int64_t, bool,
                               const float*);

// Table[rows] handles a tile of `rows` rows (1..kMr).
template <int Halves, size_t... R>
constexpr std::array<MicroKernelFn, kMr + 1> MicroKernelTable(std::index_sequence<R...>) {
  return {nullptr, MicroKernel<static_cast<int>(R) + 1, Halves>...};
}
constexpr std::array<MicroKernelFn, kMr + 1> kFullKernels = MicroKernelTable<2>(std::make_index_sequence<kMr>{});
constexpr std::array<MicroKernelFn, kMr + 1> kHalfKernels = MicroKernelTable<1>(std::make_index_sequence<kMr>{});

// C[m, n] (+)= op(A) @ op(B) (+ bias) with k >= 1; see gemm.h for the arguments.
inline void Blocked(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool transA, const float* b,
                    int64_t ldb, bool transB, float* c, int64_t ldc, bool accumulate, const float* bias) {
  const bool packA = n > kMaxUnpackedN;
  float* packedB = ThreadScratch(Scratch::kGemmB, kKc * std::min(kNc, (n + kNr - 1) / kNr * kNr));
  float* packedA = packA ? ThreadScratch(Scratch::kGemmA, kMc * kKc) : nullptr;
  // Element (i, l) of op(A) is at a[i * rowStride + l * depthStride].
  const int64_t rowStride = transA ? 1 : lda, depthStride = transA ? lda : 1;
  for (int64_t jc = 0; jc < n; jc += kNc) {
    const int64_t nc = std::min(kNc, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      const bool add = accumulate || pc > 0;
      PackB(kc, nc, transB ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, transB, packedB);
      for (int64_t ic = 0; ic < m; ic += kMc) {
        const int64_t mc = std::min(kMc, m - ic);
        const float* aBlock = a + ic * rowStride + pc * depthStride;
        if (packA) PackA(mc, kc, aBlock, lda, transA, packedA);
        for (int64_t j0 = 0; j0 < nc; j0 += kNr) {
          const int64_t cols = std::min(kNr, nc - j0);
          for (int64_t i0 = 0; i0 < mc; i0 += kMr) {
            const int rows = static_cast<int>(std::min<int64_t>(kMr, mc - i0));
            const MicroKernelFn kernel = cols > 16 ? kFullKernels[rows] : kHalfKernels[rows];
            float* cTile = c + (ic + i0) * ldc + jc + j0;
            const float* bPanel = packedB + j0 * kc;
            // The bias enters once, with the first slice of the depth.
            const float* tileBias = bias != nullptr && pc == 0 ? bias + jc + j0 : nullptr;
            if (packA) {
              kernel(kc, packedA + i0 * kc, 1, kMr, bPanel, cTile, ldc, cols, add, tileBias);
            } else {
              kernel(kc, aBlock + i0 * rowStride, rowStride, depthStride, bPanel, cTile, ldc, cols, add, tileBias);
            }
          }
        }
      }
    }
  }
}

}  // namespace gemm
}  // namespace ldm
