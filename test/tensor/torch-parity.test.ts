// Every op against PyTorch, on both backends: forward outputs and input gradients must match
// test/fixtures/ops.safetensors (scripts/make_fixtures.py) within TOLERANCE. Torch is not needed; a missing
// native addon fails the native half, as in backends.test.ts.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { grad } from '../../src/tensor/autograd.js';
import { withBackend, type BackendName } from '../../src/tensor/device.js';
import { formatShape, shapesEqual } from '../../src/tensor/shape.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { caseLeaves, loadCases, outputRoles, runCase, storedTensor, type OpCase } from './fixture-cases.js';

/**
 * Largest accepted max|got - expected| / max|expected| per tensor. The reference is computed
 * in float64 from the same float32 inputs, so this bounds our float32 error alone; a
 * norm-relative measure keeps elements near zero from dominating.
 */
const TOLERANCE = 1e-4;

interface Mismatch {
  error: number;
  message: string;
}

/** Compares one tensor; returns the relative error and a message naming the worst element. */
function compare(label: string, got: Tensor, expected: Tensor): Mismatch {
  if (!shapesEqual(got.shape, expected.shape)) {
    return {
      error: Infinity,
      message: `${label}: shape ${formatShape(got.shape)}, expected ${formatShape(expected.shape)}`,
    };
  }
  let worst = 0;
  let at = 0;
  let scale = 0;
  for (let i = 0; i < expected.size; i++) {
    const diff = Math.abs(got.data[i] - expected.data[i]);
    const d = Number.isNaN(diff) ? Infinity : diff;
    if (d > worst) [worst, at] = [d, i];
    scale = Math.max(scale, Math.abs(expected.data[i]));
  }
  const error = worst / Math.max(scale, 1e-6);
  const message =
    `${label}: relative error ${error.toExponential(2)} (max |got - expected| ${worst.toExponential(2)} at flat ` +
    `index ${at}: got ${got.data[at]}, expected ${expected.data[at]}; max |expected| ${scale.toExponential(2)})`;
  return { error, message };
}

/** Runs a case forward and backward with the fixture's upstream gradient; returns every comparison. */
function checkCase(c: OpCase): Mismatch[] {
  const leaves = caseLeaves(c, true);
  const extras: Record<string, Tensor> = {};
  const outs = runCase(c, leaves, extras);
  const results = outputRoles(c, 'out').map((role, i) => compare(role, outs[i], storedTensor(c, role)));
  for (const role of c.extras) results.push(compare(role, extras[role], storedTensor(c, role)));
  if (c.inputs.length > 0) {
    const gradOutputs = outputRoles(c, 'grad_out').map((role) => storedTensor(c, role));
    const inputs = c.inputs.map((role) => leaves[role]);
    const grads = grad(outs, inputs, { gradOutputs, allowUnused: true });
    c.inputs.forEach((role, i) => results.push(compare(`grad_${role}`, grads[i], storedTensor(c, `grad_${role}`))));
  }
  return results;
}

const cases = loadCases();

for (const backend of ['js', 'native'] as BackendName[]) {
  describe(`torch parity on the ${backend} backend`, () => {
    let worst = { error: 0, where: '' };
    for (const c of cases) {
      test(`${c.name} (${c.op})`, () => {
        const results = withBackend(backend, () => checkCase(c));
        for (const r of results) {
          if (r.error > worst.error) worst = { error: r.error, where: `${c.name} ${r.message.split(':')[0]}` };
        }
        const failures = results.filter((r) => !(r.error < TOLERANCE)).map((r) => `  ${r.message}`);
        assert.equal(failures.length, 0, `${c.name} [${backend}] differs from torch:\n${failures.join('\n')}`);
      });
    }
    test('worst relative error', (t) => {
      t.diagnostic(`${backend}: ${worst.error.toExponential(2)} (${worst.where}) over ${cases.length} cases`);
    });
  });
}
