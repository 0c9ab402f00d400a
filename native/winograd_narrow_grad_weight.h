// The weight gradient of a Winograd F(2x2, 3x3) convolution on narrow maps (see
// winograd_narrow.h): the adjoint of each step of the forward Y = A^T [U .* V] A with
// U = G g G^T, namely
//   dU[xi][ci, co] = sum_tiles V[xi][tile, ci] (A dY A^T)[xi][tile, co],   dg = G^T dU G,
// where dY is the 2x2 tile of gy (zero past the output's edge). Both transforms run with 16
// channels in the vector lanes, as in the forward.
// Included by conv2d.cc only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "conv_gemm.h"
#include "scratch.h"
#include "vec.h"
#include "winograd_narrow.h"

namespace ldm {
namespace winograd {
namespace narrow {

// g.Packed(xi, t, c) = (A y A^T)[xi] for the 2x2 tiles y of the block [r0, r1) of tile rows of
// `group` of gy, zero outside outH x outW; 16 output channels at a time.
inline void TransformGradOutput(const Shape& s, const float* gy, int64_t group, int64_t r0, int64_t r1,
                                const TileBlock& g, float* window) {
  const int64_t outG = s.OutPerGroup(), tilesW = s.TilesW(), cols = 2 * tilesW;
  ForEachImageRun(s, r0, r1, [&](int64_t image, int64_t ty0, int64_t ty1, int64_t t0) {
    const int64_t oy0 = 2 * ty0, oy1 = std::min(s.outH, 2 * ty1);
    // Cells past the output's edge stay 0: every channel slice writes the same cells.
    std::fill(window, window + 2 * (ty1 - ty0) * cols * 16, 0.0f);
    for (int64_t c0 = 0; c0 < outG; c0 += 16) {
      const float* planes = gy + ((image * s.cOut + group * outG + c0) * s.outH + oy0) * s.outW;
      if (c0 + 16 < outG) {
        PrefetchPlanes(planes + 16 * s.outH * s.outW, s.outH * s.outW, std::min<int64_t>(16, outG - c0 - 16), 0,
                       (oy1 - oy0) * s.outW, false);
      }
      PlanesToPixels(planes, s.outH * s.outW, std::min<int64_t>(16, outG - c0), (oy1 - oy0) * s.outW, s.outW, window,
                     cols * 16, 16);
      for (int64_t ty = ty0; ty < ty1; ty++) {
        for (int64_t tx = 0; tx < tilesW; tx++) {
          const float* y = window + (2 * (ty - ty0) * cols + 2 * tx) * 16;
          const Vec16 y00 = Load<Vec16>(y), y01 = Load<Vec16>(y + 16);
          const Vec16 y10 = Load<Vec16>(y + cols * 16), y11 = Load<Vec16>(y + (cols + 1) * 16);
          const Vec16 q[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};  // A y
          float* at = g.Packed(0, t0 + (ty - ty0) * tilesW + tx, c0);  // position xi at at + xi * g.plane
          for (int k = 0; k < 4; k++) {  // (A y) A^T
            Store(at + (k * 4 + 0) * g.plane, q[k][0]);
            Store(at + (k * 4 + 1) * g.plane, q[k][0] + q[k][1]);
            Store(at + (k * 4 + 2) * g.plane, q[k][0] - q[k][1]);
            Store(at + (k * 4 + 3) * g.plane, -q[k][1]);
          }
        }
      }
    }
  });
}

// Transformed tiles per chunk, in and out together (1 MiB).
constexpr int64_t kChunkFloats = int64_t{256} << 10;

// gw = dL/dweight [cOut, cInG, 3, 3] given x and gy; overwritten. The tiles are taken a chunk
// at a time: all threads transform the chunk's tiles (blocks of tile rows), then each product
// dU[xi][ci, 32 co] (+)= sum over the chunk's tiles is one work item, which sums its tiles in
// one fixed order. The result does not depend on the thread count, and the items can be
// handed out dynamically.
inline void GradWeight(const Shape& s, const float* x, const float* gy, float* gw, int threads) {
  const int64_t inG = s.InPerGroup(), outG = s.OutPerGroup(), inP = InPadded(s), outP = OutPadded(s);
  const int64_t tilesW = s.TilesW(), rows = TileRows(s), strips = (outP + 31) / 32;
  const int64_t chunkRows = std::clamp<int64_t>(kChunkFloats / (16 * (inP + outP) * tilesW), 1, std::max<int64_t>(1, rows));
  const int64_t blockRows = std::max<int64_t>(1, chunkRows / (4 * threads));
  // Shared by the threads: the chunk's transformed tiles (gy's in packed strips) and dU.
  // The products read V's rows down a whole chunk: their stride is spread over the L1 sets.
  const TileBlock v = ThreadTileBlock(Scratch::kTransformed, chunkRows * tilesW, inP, convgemm::SpreadRowStride(inP));
  const TileBlock g = ThreadTileBlock(Scratch::kProducts, chunkRows * tilesW, outP, outP);
  float* du = ThreadScratch(Scratch::kPartialSums, WeightsSize(s));
  if (rows == 0) std::fill(du, du + WeightsSize(s), 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float* window = ThreadScratch(Scratch::kRows, WindowSize(s, blockRows));
    for (int64_t group = 0; group < s.groups; group++) {
      for (int64_t c0 = 0; c0 < rows; c0 += chunkRows) {
        const int64_t c1 = std::min(rows, c0 + chunkRows), blocks = (c1 - c0 + blockRows - 1) / blockRows;
#pragma omp for schedule(dynamic)
        for (int64_t block = 0; block < blocks; block++) {
          const int64_t r0 = c0 + block * blockRows, r1 = std::min(c1, r0 + blockRows);
          TransformInput(s, x, group, r0, r1, v.From((r0 - c0) * tilesW), window);
          TransformGradOutput(s, gy, group, r0, r1, g.From((r0 - c0) * tilesW), window);
        }
#pragma omp for schedule(dynamic)
        for (int64_t item = 0; item < 16 * strips; item++) {
          const int64_t xi = item / strips, strip = item % strips * 32, width = convgemm::StripWidth(outP, strip);
          const float* b[2] = {g.Packed(xi, 0, strip), g.Packed(xi, 0, strip) + 16};
          float* duXi = du + (group * 16 + xi) * WeightsPlane(s) + strip;
          float* c[2] = {duXi, duXi + 16};
          convgemm::StripProduct(inP, (c1 - c0) * tilesW, {v.At(xi, 0), 1, v.ld}, static_cast<int>(width / 16), b,
                                 width, c, outP, c0 > 0);
        }
      }
    }
    // dg = G^T dU G for 16 output channels at a time, in the vector lanes; the 16 kernels'
    // taps are transposed back into kernel-major order on the way out.
#pragma omp for schedule(static)
    for (int64_t row = 0; row < s.groups * inG; row++) {
      const int64_t group = row / inG, ci = row % inG;
      for (int64_t co0 = 0; co0 < outG; co0 += 16) {
        Vec16 d[4][4];
        for (int xi = 0; xi < 16; xi++) {
          d[xi / 4][xi % 4] = Load<Vec16>(du + (group * 16 + xi) * WeightsPlane(s) + ci * outP + co0);
        }
        Vec16 gd[3][4];  // G^T dU
        for (int j = 0; j < 4; j++) {
          gd[0][j] = d[0][j] + 0.5f * (d[1][j] + d[2][j]);
          gd[1][j] = 0.5f * (d[1][j] - d[2][j]);
          gd[2][j] = 0.5f * (d[1][j] + d[2][j]) + d[3][j];
        }
        Vec16 taps[16];
        for (int t = 9; t < 16; t++) taps[t] = Vec16{};
        for (int i = 0; i < 3; i++) {  // (G^T dU) G
          taps[i * 3 + 0] = gd[i][0] + 0.5f * (gd[i][1] + gd[i][2]);
          taps[i * 3 + 1] = 0.5f * (gd[i][1] - gd[i][2]);
          taps[i * 3 + 2] = 0.5f * (gd[i][1] + gd[i][2]) + gd[i][3];
        }
        gemm::Transpose16(taps);  // taps[lane] holds the 9 taps of output channel co0 + lane
        for (int64_t lane = 0; lane < std::min<int64_t>(16, outG - co0); lane++) {
          std::memcpy(gw + ((group * outG + co0 + lane) * inG + ci) * 9, &taps[lane], 9 * sizeof(float));
        }
      }
    }
  }
}

}  // namespace narrow
}  // namespace winograd
}  // namespace ldm
