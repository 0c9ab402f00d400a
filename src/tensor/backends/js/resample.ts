// Nearest upsampling and average pooling over [planes, h, w] images, and their backwards.
import type { Floats } from './floats.js';

export function upsampleNearest(
  x: Floats,
  out: Floats,
  planes: number,
  h: number,
  w: number,
  sh: number,
  sw: number,
): void {
  const outW = w * sw;
  for (let plane = 0; plane < planes; plane++) {
    for (let oi = 0; oi < h * sh; oi++) {
      const xRow = (plane * h + Math.floor(oi / sh)) * w;
      const outRow = (plane * h * sh + oi) * outW;
      for (let oj = 0; oj < outW; oj++) out[outRow + oj] = x[xRow + Math.floor(oj / sw)];
    }
  }
}

export function upsampleNearestGrad(
  gy: Floats,
  gx: Floats,
  planes: number,
  h: number,
  w: number,
  sh: number,
  sw: number,
): void {
  const outW = w * sw;
  for (let plane = 0; plane < planes; plane++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let sum = 0;
        for (let di = 0; di < sh; di++) {
          const gyRow = (plane * h * sh + i * sh + di) * outW + j * sw;
          for (let dj = 0; dj < sw; dj++) sum += gy[gyRow + dj];
        }
        gx[(plane * h + i) * w + j] = sum;
      }
    }
  }
}

/** Output extent of a k-wide window with stride s, no padding, floor mode. */
function pooledSize(size: number, k: number, s: number): number {
  return Math.floor((size - k) / s) + 1;
}

export function avgPool2d(x: Floats, out: Floats, planes: number, h: number, w: number, k: number, s: number): void {
  const outH = pooledSize(h, k, s);
  const outW = pooledSize(w, k, s);
  const area = k * k;
  for (let plane = 0; plane < planes; plane++) {
    for (let oi = 0; oi < outH; oi++) {
      for (let oj = 0; oj < outW; oj++) {
        let sum = 0;
        for (let di = 0; di < k; di++) {
          const xRow = (plane * h + oi * s + di) * w + oj * s;
          for (let dj = 0; dj < k; dj++) sum += x[xRow + dj];
        }
        out[(plane * outH + oi) * outW + oj] = sum / area;
      }
    }
  }
}

export function avgPool2dGrad(
  gy: Floats,
  gx: Floats,
  planes: number,
  h: number,
  w: number,
  k: number,
  s: number,
): void {
  const outH = pooledSize(h, k, s);
  const outW = pooledSize(w, k, s);
  const area = k * k;
  // Windows overlap when s < k, so accumulate in doubles, then store.
  const gradPlane = new Float64Array(h * w);
  for (let plane = 0; plane < planes; plane++) {
    gradPlane.fill(0);
    for (let oi = 0; oi < outH; oi++) {
      for (let oj = 0; oj < outW; oj++) {
        const share = gy[(plane * outH + oi) * outW + oj] / area;
        for (let di = 0; di < k; di++) {
          const row = (oi * s + di) * w + oj * s;
          for (let dj = 0; dj < k; dj++) gradPlane[row + dj] += share;
        }
      }
    }
    gx.set(gradPlane, plane * h * w);
  }
}
