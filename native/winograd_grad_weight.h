// The weight gradient of a Winograd F(2x2, 3x3) convolution (see winograd.h): the adjoint of
// each step of the forward Y = A^T [U .* V] A with U = G g G^T, namely
//   dU[xi][co, ci] = sum_tiles (A dY A^T)[xi][co, tile] V[xi][ci, tile],   dg = G^T dU G,
// where dY is the 2x2 tile of gy (zero past the output's edge). The tiles are split over the
// threads; each sums into its own dU, and the copies are added up at the end.
// Included by conv2d.cc only.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common.h"
#include "gemm.h"
#include "scratch.h"
#include "vec.h"
#include "winograd.h"

namespace ldm {
namespace winograd {

// (A y A^T)[xi] for the 2x2 tiles y = rows y0 (top) and y1 (bottom): y0 = (y00, y01),
// y1 = (y10, y11) per tile, lane by lane; stored to gt[xi] + i0.
template <typename V>
void StoreGradOutputTiles(V y00, V y01, V y10, V y11, int64_t i0, float* const* gt) {
  const V q[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};  // A y
  for (int k = 0; k < 4; k++) {  // (A y) A^T
    Store(gt[k * 4 + 0] + i0, q[k][0]);
    Store(gt[k * 4 + 1] + i0, q[k][0] + q[k][1]);
    Store(gt[k * 4 + 2] + i0, q[k][0] - q[k][1]);
    Store(gt[k * 4 + 3] + i0, -q[k][1]);
  }
}

// kLanes<V> whole tiles from tile i0, whose rows start at row0 and row1 (null: zeros).
template <typename V>
void GradOutputTiles(const float* row0, const float* row1, int64_t i0, float* const* gt) {
  constexpr int64_t n = kLanes<V>;
  const V a = Load<V>(row0), b = Load<V>(row0 + n);
  V y10 = {}, y11 = {};
  if (row1 != nullptr) {
    const V c = Load<V>(row1), d = Load<V>(row1 + n);
    y10 = Even(c, d);
    y11 = Odd(c, d);
  }
  StoreGradOutputTiles(Even(a, b), Odd(a, b), y10, y11, i0, gt);
}

// g[xi][co][t] = (A y A^T)[xi] for the 2x2 tiles y [t0, t1) of gy, zero outside outH x outW.
inline void TransformGradOutput(const Shape& s, const float* gy, int64_t group, int64_t t0, int64_t t1,
                                const TileBlock& g) {
  const int64_t outG = s.OutPerGroup();
  for (int64_t co = 0; co < outG; co++) {
    ForEachTileRun(s, t0, t1, [&](int64_t image, int64_t ty, int64_t tx0, int64_t count, int64_t offset) {
      float* gt[16];
      for (int xi = 0; xi < 16; xi++) gt[xi] = g.At(xi, co) + offset;
      const float* row0 = gy + ((image * s.cOut + group * outG + co) * s.outH + 2 * ty) * s.outW + 2 * tx0;
      const float* row1 = 2 * ty + 1 < s.outH ? row0 + s.outW : nullptr;
      const auto at = [](const float* row, int64_t i) { return row == nullptr ? nullptr : row + 2 * i; };
      const int64_t whole = std::min(count, s.outW / 2 - tx0);
      int64_t i = 0;
      for (; i + kLanes<Vec16> <= whole; i += kLanes<Vec16>) GradOutputTiles<Vec16>(at(row0, i), at(row1, i), i, gt);
      for (; i + kLanes<Vec8> <= whole; i += kLanes<Vec8>) GradOutputTiles<Vec8>(at(row0, i), at(row1, i), i, gt);
      for (; i < count; i++) {  // one tile at a time; the overhanging tile's second column is 0
        const bool second = i < whole;
        const float y00 = row0[2 * i], y01 = second ? row0[2 * i + 1] : 0.0f;
        const float y10 = row1 != nullptr ? row1[2 * i] : 0.0f;
        const float y11 = row1 != nullptr && second ? row1[2 * i + 1] : 0.0f;
        StoreGradOutputTiles<float>(y00, y01, y10, y11, i, gt);
      }
    });
  }
}

// gw = dL/dweight [cOut, cInG, 3, 3] given x and gy; overwritten.
inline void GradWeight(const Shape& s, const float* x, const float* gy, float* gw, int threads) {
  const int64_t inG = s.InPerGroup(), outG = s.OutPerGroup(), block = s.Block();
  const int64_t blocks = (s.Tiles() + block - 1) / block;
  const int64_t uSize = 16 * s.cOut * inG;
  float* du = ThreadScratch(Scratch::kPartialSums, threads * uSize);
  std::fill(du, du + threads * uSize, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    const TileBlock v = ThreadTileBlock(Scratch::kTransformed, inG, block);
    const TileBlock g = ThreadTileBlock(Scratch::kProducts, outG, block);
    float* rows = ThreadScratch(Scratch::kRows, InputScratch(s, block));
    float* mine = du + omp_get_thread_num() * uSize;
    // A fixed split: each thread's partial sums must cover the same blocks in every run, or
    // they would add up in another order and the gradient would change in its last bits.
#pragma omp for schedule(static)
    for (int64_t item = 0; item < blocks * s.groups; item++) {
      const int64_t group = item % s.groups, t0 = item / s.groups * block;
      const int64_t t1 = std::min(s.Tiles(), t0 + block);
      TransformInput(s, x, group, t0, t1, v, rows);
      TransformGradOutput(s, gy, group, t0, t1, g);
      for (int xi = 0; xi < 16; xi++) {
        GemmSerial(outG, inG, t1 - t0, g.At(xi, 0), g.ld, false, v.At(xi, 0), v.ld, true,
                   mine + (group * 16 + xi) * outG * inG, inG, true);
      }
    }
#pragma omp for schedule(static)
    for (int64_t oc = 0; oc < s.cOut; oc++) {
      const int64_t group = oc / outG, co = oc % outG;
      for (int64_t ci = 0; ci < inG; ci++) {
        float d[4][4];
        for (int xi = 0; xi < 16; xi++) {
          const int64_t at = ((group * 16 + xi) * outG + co) * inG + ci;
          float sum = 0.0f;
          for (int t = 0; t < threads; t++) sum += du[t * uSize + at];
          d[xi / 4][xi % 4] = sum;
        }
        float gd[3][4];  // G^T dU
        for (int j = 0; j < 4; j++) {
          gd[0][j] = d[0][j] + 0.5f * (d[1][j] + d[2][j]);
          gd[1][j] = 0.5f * (d[1][j] - d[2][j]);
          gd[2][j] = 0.5f * (d[1][j] + d[2][j]) + d[3][j];
        }
        float* out = gw + (oc * inG + ci) * 9;
        for (int i = 0; i < 3; i++) {  // (G^T dU) G
          out[i * 3 + 0] = gd[i][0] + 0.5f * (gd[i][1] + gd[i][2]);
          out[i * 3 + 1] = 0.5f * (gd[i][1] - gd[i][2]);
          out[i * 3 + 2] = 0.5f * (gd[i][1] + gd[i][2]) + gd[i][3];
        }
      }
    }
  }
}

}  // namespace winograd
}  // namespace ldm
