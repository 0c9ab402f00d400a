// 2-D convolution as im2col + GEMM, per image and group. Per group g, with K = cInG * kh * kw
// and L = outH * outW:
//   forward      out_g [cOutG, L] = W_g [cOutG, K] @ col [K, L]
//   grad input   col'  [K, L]     = W_g^T @ gy_g, scattered back by col2im
//   grad weight  gW_g  [cOutG, K] += gy_g [cOutG, L] @ col^T, summed over images
import type { Conv2dParams } from '../../backend.js';
import type { Floats } from './floats.js';
import { gemmAccumulate } from './matmul.js';

/** Sizes derived once from the params. */
function groupSizes(p: Conv2dParams) {
  const cInG = p.cIn / p.groups;
  const cOutG = p.cOut / p.groups;
  return { cInG, cOutG, K: cInG * p.kh * p.kw, L: p.outH * p.outW };
}

/**
 * Visits each (row of col, output position) pair with the input offset it reads, skipping
 * taps that fall in the zero padding. Row r = (c * kh + ki) * kw + kj over the group's channels,
 * matching the weight's [cOutG, cInG, kh, kw] layout; `imageOffset` is where channel 0 of the
 * group starts in x.
 */
function forEachTap(p: Conv2dParams, imageOffset: number, visit: (colIndex: number, xIndex: number) => void): void {
  const { cInG, L } = groupSizes(p);
  for (let c = 0; c < cInG; c++) {
    for (let ki = 0; ki < p.kh; ki++) {
      for (let kj = 0; kj < p.kw; kj++) {
        const row = (c * p.kh + ki) * p.kw + kj;
        for (let oh = 0; oh < p.outH; oh++) {
          const ih = oh * p.strideH - p.padTop + ki * p.dilationH;
          if (ih < 0 || ih >= p.h) continue;
          const xRow = imageOffset + (c * p.h + ih) * p.w;
          for (let ow = 0; ow < p.outW; ow++) {
            const iw = ow * p.strideW - p.padLeft + kj * p.dilationW;
            if (iw >= 0 && iw < p.w) visit(row * L + oh * p.outW + ow, xRow + iw);
          }
        }
      }
    }
  }
}

function im2col(x: Floats, imageOffset: number, col: Float64Array, p: Conv2dParams): void {
  col.fill(0);
  forEachTap(p, imageOffset, (colIndex, xIndex) => {
    col[colIndex] = x[xIndex];
  });
}

export function conv2d(x: Floats, weight: Floats, bias: Floats | null, out: Floats, p: Conv2dParams): void {
  const { cInG, cOutG, K, L } = groupSizes(p);
  const col = new Float64Array(K * L);
  const acc = new Float64Array(cOutG * L);
  for (let image = 0; image < p.n; image++) {
    for (let g = 0; g < p.groups; g++) {
      im2col(x, (image * p.cIn + g * cInG) * p.h * p.w, col, p);
      acc.fill(0);
      gemmAccumulate(weight, g * cOutG * K, false, col, 0, false, acc, cOutG, L, K);
      for (let o = 0; o < cOutG; o++) {
        const channel = g * cOutG + o;
        const shift = bias === null ? 0 : bias[channel];
        const outRow = (image * p.cOut + channel) * L;
        for (let s = 0; s < L; s++) out[outRow + s] = acc[o * L + s] + shift;
      }
    }
  }
}

export function conv2dGradInput(gy: Floats, weight: Floats, gx: Floats, p: Conv2dParams): void {
  const { cInG, cOutG, K, L } = groupSizes(p);
  const gradCol = new Float64Array(K * L);
  const gradImage = new Float64Array(p.cIn * p.h * p.w);
  for (let image = 0; image < p.n; image++) {
    gradImage.fill(0);
    for (let g = 0; g < p.groups; g++) {
      gradCol.fill(0);
      // W_g is stored [cOutG, K], which is W_g^T stored transposed.
      gemmAccumulate(weight, g * cOutG * K, true, gy, (image * p.cOut + g * cOutG) * L, false, gradCol, K, L, cOutG);
      forEachTap(p, g * cInG * p.h * p.w, (colIndex, xIndex) => {
        gradImage[xIndex] += gradCol[colIndex];
      });
    }
    gx.set(gradImage, image * p.cIn * p.h * p.w);
  }
}

export function conv2dGradWeight(x: Floats, gy: Floats, gw: Floats, p: Conv2dParams): void {
  const { cInG, cOutG, K, L } = groupSizes(p);
  const col = new Float64Array(K * L);
  const groupAcc = new Float64Array(cOutG * K);
  for (let g = 0; g < p.groups; g++) {
    groupAcc.fill(0);
    for (let image = 0; image < p.n; image++) {
      im2col(x, (image * p.cIn + g * cInG) * p.h * p.w, col, p);
      // col is stored [K, L], which is col^T stored transposed.
      gemmAccumulate(gy, (image * p.cOut + g * cOutG) * L, false, col, 0, true, groupAcc, cOutG, K, L);
    }
    gw.set(groupAcc, g * cOutG * K);
  }
}
