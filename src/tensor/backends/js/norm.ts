// Group and layer normalisation. Both normalise "rows" of contiguous elements and then
// apply a per-channel affine, where a row is `channels` runs of `runLength` elements that
// share one gamma/beta:
//   layer norm: row = one [cols] row,               channels = cols, runLength = 1
//   group norm: row = one (image, group) [cG, hw],  channels = cG,   runLength = hw
// Statistics use the biased variance (as PyTorch), computed in doubles with two passes.
import type { Floats } from './floats.js';

interface RowLayout {
  offset: number; // where the row starts in x
  channels: number;
  runLength: number;
  gammaOffset: number; // gamma/beta index of the row's first channel
}

function normalizeRow(
  x: Floats,
  gamma: Floats | null,
  beta: Floats | null,
  out: Floats,
  mean: Floats,
  rstd: Floats,
  statIndex: number,
  row: RowLayout,
  eps: number,
): void {
  const length = row.channels * row.runLength;
  const end = row.offset + length;
  let sum = 0;
  for (let i = row.offset; i < end; i++) sum += x[i];
  const mu = sum / length;
  let squares = 0;
  for (let i = row.offset; i < end; i++) squares += (x[i] - mu) * (x[i] - mu);
  const invStd = 1 / Math.sqrt(squares / length + eps);
  mean[statIndex] = mu;
  rstd[statIndex] = invStd;
  for (let c = 0; c < row.channels; c++) {
    const scale = gamma === null ? 1 : gamma[row.gammaOffset + c];
    const shift = beta === null ? 0 : beta[row.gammaOffset + c];
    const start = row.offset + c * row.runLength;
    for (let i = start; i < start + row.runLength; i++) out[i] = (x[i] - mu) * invStd * scale + shift;
  }
}

/**
 * With xhat = (x - mean) * rstd and dxhat = gy * gamma over a row of M elements:
 *   gx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
 * and per channel gGamma += sum gy * xhat, gBeta += sum gy (into double accumulators).
 */
function normalizeRowGrad(
  x: Floats,
  gy: Floats,
  gamma: Floats | null,
  mu: number,
  invStd: number,
  gx: Floats,
  gGammaAcc: Float64Array,
  gBetaAcc: Float64Array,
  row: RowLayout,
): void {
  let sumDxhat = 0;
  let sumDxhatXhat = 0;
  for (let c = 0; c < row.channels; c++) {
    const channel = row.gammaOffset + c;
    const scale = gamma === null ? 1 : gamma[channel];
    const start = row.offset + c * row.runLength;
    let sumGy = 0;
    let sumGyXhat = 0;
    for (let i = start; i < start + row.runLength; i++) {
      const xhat = (x[i] - mu) * invStd;
      sumGy += gy[i];
      sumGyXhat += gy[i] * xhat;
    }
    gBetaAcc[channel] += sumGy;
    gGammaAcc[channel] += sumGyXhat;
    sumDxhat += scale * sumGy;
    sumDxhatXhat += scale * sumGyXhat;
  }
  const length = row.channels * row.runLength;
  const meanDxhat = sumDxhat / length;
  const meanDxhatXhat = sumDxhatXhat / length;
  for (let c = 0; c < row.channels; c++) {
    const scale = gamma === null ? 1 : gamma[row.gammaOffset + c];
    const start = row.offset + c * row.runLength;
    for (let i = start; i < start + row.runLength; i++) {
      const xhat = (x[i] - mu) * invStd;
      gx[i] = invStd * (gy[i] * scale - meanDxhat - xhat * meanDxhatXhat);
    }
  }
}

export function groupNorm(
  x: Floats,
  gamma: Floats | null,
  beta: Floats | null,
  out: Floats,
  mean: Floats,
  rstd: Floats,
  n: number,
  c: number,
  hw: number,
  groups: number,
  eps: number,
): void {
  const channels = c / groups;
  for (let image = 0; image < n; image++) {
    for (let g = 0; g < groups; g++) {
      const row = { offset: (image * c + g * channels) * hw, channels, runLength: hw, gammaOffset: g * channels };
      normalizeRow(x, gamma, beta, out, mean, rstd, image * groups + g, row, eps);
    }
  }
}

export function groupNormGrad(
  x: Floats,
  gy: Floats,
  gamma: Floats | null,
  mean: Floats,
  rstd: Floats,
  gx: Floats,
  gGamma: Floats | null,
  gBeta: Floats | null,
  n: number,
  c: number,
  hw: number,
  groups: number,
): void {
  const channels = c / groups;
  const gGammaAcc = new Float64Array(c);
  const gBetaAcc = new Float64Array(c);
  for (let image = 0; image < n; image++) {
    for (let g = 0; g < groups; g++) {
      const row = { offset: (image * c + g * channels) * hw, channels, runLength: hw, gammaOffset: g * channels };
      const stat = image * groups + g;
      normalizeRowGrad(x, gy, gamma, mean[stat], rstd[stat], gx, gGammaAcc, gBetaAcc, row);
    }
  }
  gGamma?.set(gGammaAcc);
  gBeta?.set(gBetaAcc);
}

export function layerNorm(
  x: Floats,
  gamma: Floats | null,
  beta: Floats | null,
  out: Floats,
  mean: Floats,
  rstd: Floats,
  rows: number,
  cols: number,
  eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    normalizeRow(
      x,
      gamma,
      beta,
      out,
      mean,
      rstd,
      r,
      { offset: r * cols, channels: cols, runLength: 1, gammaOffset: 0 },
      eps,
    );
  }
}

export function layerNormGrad(
  x: Floats,
  gy: Floats,
  gamma: Floats | null,
  mean: Floats,
  rstd: Floats,
  gx: Floats,
  gGamma: Floats | null,
  gBeta: Floats | null,
  rows: number,
  cols: number,
): void {
  const gGammaAcc = new Float64Array(cols);
  const gBetaAcc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const row = { offset: r * cols, channels: cols, runLength: 1, gammaOffset: 0 };
    normalizeRowGrad(x, gy, gamma, mean[r], rstd[r], gx, gGammaAcc, gBetaAcc, row);
  }
  gGamma?.set(gGammaAcc);
  gBeta?.set(gBetaAcc);
}
