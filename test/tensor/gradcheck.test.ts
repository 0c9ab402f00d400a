// Backward against central finite differences: for every fixture case where the op is
// differentiable at its inputs, on both backends, the gradient from our autograd must match
// (L(x + h) - L(x - h)) / 2h, where L = sum(out * grad_out), at every element of small inputs and at
// MAX_ELEMENTS spread elements of larger ones.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { grad, noGrad } from '../../src/tensor/autograd.js';
import { withBackend, type BackendName } from '../../src/tensor/device.js';
import { dropout } from '../../src/tensor/functional.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { caseLeaves, loadCases, outputRoles, runCase, storedTensor, type OpCase, type Roles } from './fixture-cases.js';

/**
 * Step and tolerance. The forward runs in float32 while L is accumulated in float64. The
 * central difference has truncation error ~h^2 |f'''| / 6 and rounding error ~(float32 rounding
 * of L) / h. Worst error over all js cases, measured per step: h = 1e-1: 4.2e-2 (truncation,
 * rsqrt), 3e-2: 3.6e-3, 1e-2: 4.0e-4, 3e-3: 2.9e-4, 1e-3: 4.8e-4, 1e-4: 4.3e-3 (rounding,
 * cross-entropy). h = 1e-2 sits in the flat bottom and stays well inside the 0.05 margin the
 * fixture keeps between every value and a kink (relu, abs, clamp bounds, max/min), so x +- h
 * never crosses one. The error is max|fd - autograd| over the input relative to its largest
 * gradient (floored at 1e-3); 1e-2 is 25x the worst measured, far below the O(1) error of a
 * wrong rule.
 */
const STEP = 1e-2;
const TOLERANCE = 1e-2;
/** Elements checked per input: all of small inputs, an evenly spread sample (first and last included) of larger ones. */
const MAX_ELEMENTS = 24;
/**
 * Cases with more input elements than this are skipped: they are the fixture's medium shapes,
 * there to reach the native kernels' blocked and threaded paths, which the parity test covers;
 * their gradient rules are the small cases' rules, and each of their forwards costs ~100x more.
 */
const MAX_INPUT_ELEMENTS = 512;

function sampledIndices(size: number): number[] {
  if (size <= MAX_ELEMENTS) return Array.from({ length: size }, (_, i) => i);
  return Array.from({ length: MAX_ELEMENTS }, (_, k) => Math.round((k * (size - 1)) / (MAX_ELEMENTS - 1)));
}

/** L = sum over outputs of out * grad_out, accumulated in float64, without recording a graph. */
function loss(c: OpCase, leaves: Roles, gradOutputs: readonly Tensor[]): number {
  const outs = noGrad(() => runCase(c, leaves));
  let total = 0;
  outs.forEach((out, k) => {
    const g = gradOutputs[k].data;
    for (let i = 0; i < out.size; i++) total += out.data[i] * g[i];
  });
  return total;
}

/** Worst relative difference between central differences and autograd, per input. */
function checkCase(c: OpCase): { role: string; error: number; message: string }[] {
  const gradOutputs = outputRoles(c, 'grad_out').map((role) => storedTensor(c, role));
  const tracked = caseLeaves(c, true);
  const analytic = grad(
    runCase(c, tracked),
    c.inputs.map((role) => tracked[role]),
    { gradOutputs, allowUnused: true },
  );
  const leaves = caseLeaves(c, false);
  return c.inputs.map((role, j) => {
    const x = leaves[role].data;
    const expected = analytic[j].data;
    let worst = 0;
    let at = 0;
    let fdAt = 0;
    let scale = 0;
    for (const i of sampledIndices(x.length)) {
      // Perturb in place (ops never keep their inputs), and divide by the step actually taken in float32.
      const original = x[i];
      x[i] = original + STEP;
      const plus = x[i];
      const lossPlus = loss(c, leaves, gradOutputs);
      x[i] = original - STEP;
      const minus = x[i];
      const lossMinus = loss(c, leaves, gradOutputs);
      x[i] = original;
      const fd = (lossPlus - lossMinus) / (plus - minus);
      const diff = Math.abs(fd - expected[i]);
      if (!(diff <= worst)) [worst, at, fdAt] = [Number.isNaN(diff) ? Infinity : diff, i, fd];
      scale = Math.max(scale, Math.abs(expected[i]));
    }
    const error = worst / Math.max(scale, 1e-3);
    const message =
      `grad_${role}: relative error ${error.toExponential(2)} at flat index ${at}: ` +
      `finite difference ${fdAt}, autograd ${expected[at]} (max |autograd| ${scale.toExponential(2)})`;
    return { role, error, message };
  });
}

const inputElements = (c: OpCase): number => c.inputs.reduce((n, role) => n + storedTensor(c, role).size, 0);
const cases = loadCases().filter((c) => c.fd && c.inputs.length > 0 && inputElements(c) <= MAX_INPUT_ELEMENTS);

for (const backend of ['js', 'native'] as BackendName[]) {
  describe(`finite-difference gradients on the ${backend} backend`, () => {
    let worst = { error: 0, where: '' };
    for (const c of cases) {
      test(`${c.name} (${c.op})`, () => {
        const results = withBackend(backend, () => checkCase(c));
        for (const r of results)
          if (r.error > worst.error) worst = { error: r.error, where: `${c.name} grad_${r.role}` };
        const failures = results.filter((r) => !(r.error < TOLERANCE)).map((r) => `  ${r.message}`);
        assert.equal(failures.length, 0, `${c.name} [${backend}] gradient mismatch:\n${failures.join('\n')}`);
      });
    }

    // Dropout has no torch reference (different random streams): check its defining properties.
    test('dropout with a seeded generator', () => {
      withBackend(backend, () => {
        const x = Tensor.randn([1000], new Generator(1)).requireGrad();
        const y = dropout(x, 0.25, true, new Generator(2));
        const [gx] = grad(y, [x], { gradOutputs: [Tensor.ones([1000])] });
        let kept = 0;
        for (let i = 0; i < x.size; i++) {
          const keptHere = y.data[i] !== 0;
          kept += keptHere ? 1 : 0;
          assert.equal(gx.data[i], keptHere ? Math.fround(1 / 0.75) : 0, `gradient at ${i}`);
          if (keptHere) assert.ok(Math.abs(y.data[i] - x.data[i] / 0.75) < 1e-6, `scaling at ${i}`);
        }
        // Binomial(1000, 0.75): mean 750, standard deviation ~14.
        assert.ok(kept > 680 && kept < 820, `kept ${kept} of 1000 with p = 0.25`);
        const again = dropout(x.detach(), 0.25, true, new Generator(2));
        assert.deepEqual(again.data, y.data, 'same seed, same mask');
      });
    });

    test('worst relative error', (t) => {
      t.diagnostic(`${backend}: ${worst.error.toExponential(2)} (${worst.where}) over ${cases.length} cases`);
    });
  });
}
