// The one loop over strided index tuples that binary ops and copyStrided share.

/**
 * Visits every row of `shape` (all axes but the last), passing each operand's element offset
 * at the row's start; the visitor walks the last axis itself, which keeps the inner loop free
 * of index maths. A rank-0 shape has one row of one element (callers pass lastAxis = 1 then).
 */
export function forEachRow(
  shape: readonly number[],
  stridesA: readonly number[],
  offsetA: number,
  stridesB: readonly number[],
  offsetB: number,
  visit: (rowA: number, rowB: number) => void,
): void {
  const outerRank = shape.length - 1;
  if (shape.some((extent) => extent === 0)) return;
  const index = new Array<number>(Math.max(outerRank, 0)).fill(0);
  let a = offsetA;
  let b = offsetB;
  for (;;) {
    visit(a, b);
    // Advance the odometer over the outer axes, last outer axis fastest.
    let axis = outerRank - 1;
    for (; axis >= 0; axis--) {
      index[axis]++;
      a += stridesA[axis];
      b += stridesB[axis];
      if (index[axis] < shape[axis]) break;
      a -= stridesA[axis] * shape[axis];
      b -= stridesB[axis] * shape[axis];
      index[axis] = 0;
    }
    if (axis < 0) return;
  }
}
