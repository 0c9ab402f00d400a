// The strided copy behind permute, slice, concat, pad and expand.
import type { Floats } from './floats.js';
import { forEachRow } from './strided.js';

export function copyStrided(
  src: Floats,
  srcOffset: number,
  srcStrides: readonly number[],
  dst: Floats,
  dstOffset: number,
  dstStrides: readonly number[],
  shape: readonly number[],
): void {
  const rank = shape.length;
  // A rank-0 copy moves one element.
  const rowLength = rank === 0 ? 1 : shape[rank - 1];
  const srcStep = rank === 0 ? 0 : srcStrides[rank - 1];
  const dstStep = rank === 0 ? 0 : dstStrides[rank - 1];
  forEachRow(shape, dstStrides, dstOffset, srcStrides, srcOffset, (dstRow, srcRow) => {
    for (let j = 0; j < rowLength; j++) dst[dstRow + j * dstStep] = src[srcRow + j * srcStep];
  });
}
