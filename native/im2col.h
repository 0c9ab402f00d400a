// The convolution shape shared by the conv kernels, and the im2col / col2im data movement
// behind the GEMM formulation of a convolution (see conv2d.cc):
//   forward      out[co, p]  = sum_r W[co, r] col[r, p]          (r runs over ci, ky, kx)
//   grad input   gcol[r, p]  = sum_co W[co, r] gy[co, p], then col2im sums gcol into gx
//   grad weight  gW[co, r]  += sum_p gy[co, p] col[r, p]
// Included by conv2d.cc only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace ldm {

struct ConvShape {
  int64_t n, cIn, h, w, cOut, kh, kw, strideH, strideW, padTop, padLeft, dilationH, dilationW, groups, outH, outW;

  int64_t InPerGroup() const { return cIn / groups; }
  int64_t OutPerGroup() const { return cOut / groups; }
  int64_t Taps() const { return kh * kw; }
  // Rows of the column matrix of one group: input channels x kernel taps.
  int64_t ColRows() const { return InPerGroup() * Taps(); }
  int64_t Pixels() const { return outH * outW; }
  int64_t Plane() const { return h * w; }
  // Multiply-adds of one pass (forward, grad input and grad weight cost the same).
  int64_t Macs() const { return n * cOut * Pixels() * ColRows(); }
  bool Pointwise() const {
    return kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0 && outH == h &&
           outW == w;
  }
};

inline int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Output columns ox (within [0, outW)) whose input column ox*stride - pad + offset lies in [0, size).
inline void ValidRange(int64_t offset, int64_t stride, int64_t size, int64_t outSize, int64_t* lo, int64_t* hi) {
  *lo = std::clamp<int64_t>(FloorDiv(-offset + stride - 1, stride), 0, outSize);
  *hi = std::clamp<int64_t>(FloorDiv(size - 1 - offset, stride) + 1, *lo, outSize);
}

// Fills col[(c - c0) * taps + ky * kw + kx, p - p0] = x[c, iy, ix] (0 in the padding) for
// channels [c0, c1) of one image-group `x` [cInG, h, w] and output pixels [p0, p1); the rows
// of col are `width` floats apart.
inline void Im2col(const ConvShape& s, const float* x, int64_t c0, int64_t c1, int64_t p0, int64_t p1, float* col,
                   int64_t width) {
  for (int64_t c = c0; c < c1; c++) {
    const float* plane = x + c * s.Plane();
    for (int64_t ky = 0; ky < s.kh; ky++) {
      for (int64_t kx = 0; kx < s.kw; kx++) {
        float* row = col + (((c - c0) * s.kh + ky) * s.kw + kx) * width;
        const int64_t xOffset = kx * s.dilationW - s.padLeft;
        int64_t lo, hi;
        ValidRange(xOffset, s.strideW, s.w, s.outW, &lo, &hi);
        // Walk the panel one output row (or part of one) at a time: columns [from, to) of row oy.
        for (int64_t p = p0; p < p1;) {
          const int64_t oy = p / s.outW;
          const int64_t from = p - oy * s.outW;
          const int64_t to = std::min(s.outW, from + (p1 - p));
          const int64_t iy = oy * s.strideH - s.padTop + ky * s.dilationH;
          float* dst = row + (p - p0);  // dst[i] is output column from + i of this row
          if (iy < 0 || iy >= s.h) {
            std::fill(dst, dst + (to - from), 0.0f);
          } else {
            const float* src = plane + iy * s.w;
            const int64_t a = std::clamp(lo, from, to), b = std::clamp(hi, a, to);
            std::fill(dst, dst + (a - from), 0.0f);
            if (s.strideW == 1) {
              std::memcpy(dst + (a - from), src + (a + xOffset), static_cast<size_t>(b - a) * sizeof(float));
            } else {
              for (int64_t ox = a; ox < b; ox++) dst[ox - from] = src[ox * s.strideW + xOffset];
            }
            std::fill(dst + (b - from), dst + (to - from), 0.0f);
          }
          p += to - from;
        }
      }
    }
  }
}

// The adjoint of Im2col over all pixels: gx[c, iy, ix] = sum of the col entries that read
// it, for channels [c0, c1) of one image-group `gx` (col holds rows of those channels only,
// `width` floats apart); those planes are overwritten.
inline void Col2im(const ConvShape& s, const float* col, int64_t c0, int64_t c1, float* gx, int64_t width) {
  for (int64_t c = c0; c < c1; c++) {
    float* plane = gx + c * s.Plane();
    std::fill(plane, plane + s.Plane(), 0.0f);
    for (int64_t ky = 0; ky < s.kh; ky++) {
      for (int64_t kx = 0; kx < s.kw; kx++) {
        const float* row = col + (((c - c0) * s.kh + ky) * s.kw + kx) * width;
        const int64_t xOffset = kx * s.dilationW - s.padLeft;
        int64_t lo, hi;
        ValidRange(xOffset, s.strideW, s.w, s.outW, &lo, &hi);
        for (int64_t oy = 0; oy < s.outH; oy++) {
          const int64_t iy = oy * s.strideH - s.padTop + ky * s.dilationH;
          if (iy < 0 || iy >= s.h) continue;
          float* dst = plane + iy * s.w;
          const float* src = row + oy * s.outW;
          for (int64_t ox = lo; ox < hi; ox++) dst[ox * s.strideW + xOffset] += src[ox];
        }
      }
    }
  }
}

}  // namespace ldm
