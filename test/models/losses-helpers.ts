// Shared by the loss tests: a relative comparison and the deterministic LPIPS test weights.
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';

import type { TensorRecord } from '../../src/io/safetensors.js';
import { formatShape, shapesEqual } from '../../src/tensor/shape.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export const LOSSES_FIXTURE = fileURLToPath(
  new URL('../../../test/fixtures/losses_parity.safetensors', import.meta.url),
);

/**
 * Asserts max|got - expected| / max|expected| <= tolerance: the reference is float64 computed from
 * the same float32 inputs, so this bounds our float32 error; norm-relative, so that elements near
 * zero do not dominate.
 */
export function assertRelativeClose(
  label: string,
  got: { shape: readonly number[]; data: Float32Array },
  expected: { shape: readonly number[]; data: Float32Array },
  tolerance = 1e-4,
): void {
  assert.ok(
    shapesEqual(got.shape, expected.shape),
    `${label}: shape ${formatShape(got.shape)}, expected ${formatShape(expected.shape)}`,
  );
  let worst = 0;
  let at = 0;
  let scale = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const diff = Math.abs(got.data[i] - expected.data[i]);
    if (!(diff <= worst)) [worst, at] = [Number.isNaN(diff) ? Infinity : diff, i];
    scale = Math.max(scale, Math.abs(expected.data[i]));
  }
  const error = worst / Math.max(scale, 1e-12);
  assert.ok(
    error <= tolerance,
    `${label}: relative error ${error.toExponential(2)} at ${at}: got ${got.data[at]}, expected ${expected.data[at]}`,
  );
}

export function assertNumberClose(label: string, got: number, expected: number, tolerance = 1e-4): void {
  const error = Math.abs(got - expected) / Math.max(Math.abs(expected), 1e-12);
  assert.ok(
    error <= tolerance,
    `${label}: got ${got}, expected ${expected} (relative error ${error.toExponential(2)})`,
  );
}

export function assertScalarClose(label: string, got: Tensor, expected: number, tolerance = 1e-4): void {
  assertNumberClose(label, got.item(), expected, tolerance);
}

/** VGG16 convs up to conv5_3: [torchvision features index, in, out]. */
const VGG_CONVS: readonly [number, number, number][] = [
  [0, 3, 64],
  [2, 64, 64],
  [5, 64, 128],
  [7, 128, 128],
  [10, 128, 256],
  [12, 256, 256],
  [14, 256, 256],
  [17, 256, 512],
  [19, 512, 512],
  [21, 512, 512],
  [24, 512, 512],
  [26, 512, 512],
  [28, 512, 512],
];

/** scripts/make_losses_fixture.py's lpips_weight: values from sin, tensor number t. */
function formulaWeight(t: number, shape: number[], kind: 'weight' | 'bias' | 'lin'): TensorRecord {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  for (let k = 0; k < n; k++) {
    const s = Math.sin(0.7 * k + 1.3 * t);
    data[k] = kind === 'weight' ? (2 / Math.sqrt(fanIn)) * s : kind === 'bias' ? 0.01 * s : (1 + s) / shape[1];
  }
  return { shape, data };
}

/** The fixture's LPIPS weights under torchvision + LPIPS lin names. */
export function lpipsTestWeights(): Map<string, TensorRecord> {
  const out = new Map<string, TensorRecord>();
  let t = 0;
  for (const [index, cin, cout] of VGG_CONVS) {
    out.set(`features.${index}.weight`, formulaWeight(t, [cout, cin, 3, 3], 'weight'));
    out.set(`features.${index}.bias`, formulaWeight(t + 1, [cout], 'bias'));
    t += 2;
  }
  [64, 128, 256, 512, 512].forEach((c, i) =>
    out.set(`lin${i}.model.1.weight`, formulaWeight(t + i, [1, c, 1, 1], 'lin')),
  );
  return out;
}
