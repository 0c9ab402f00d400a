import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import {
  DiffusionSchedule,
  PARAMETERIZATIONS,
  diffusionLoss,
  guidedDenoiser,
  linearCombination,
  predictEpsAndX0,
  qSample,
  sampleTimesteps,
  trainingTarget,
} from '../../src/diffusion/index.js';
import { concat } from '../../src/tensor/ops/shape-ops.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= atol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

// abar = 0.9, 0.72, 0.504, 0.3024
const schedule = new DiffusionSchedule(Float64Array.from([0.1, 0.2, 0.3, 0.4]));

describe('forward process', () => {
  test('qSample uses each sample its own timestep', () => {
    const x0 = Tensor.from([1, 2, -1, 3], [2, 1, 1, 2]);
    const noise = Tensor.from([0.5, -0.5, 2, 0], [2, 1, 1, 2]);
    const xt = qSample(schedule, x0, [0, 3], noise);
    assert.deepEqual(xt.shape, [2, 1, 1, 2]);
    const [a0, a3] = [0.9, 0.3024];
    const expected = [
      Math.sqrt(a0) * 1 + Math.sqrt(1 - a0) * 0.5,
      Math.sqrt(a0) * 2 - Math.sqrt(1 - a0) * 0.5,
      -Math.sqrt(a3) + Math.sqrt(1 - a3) * 2,
      Math.sqrt(a3) * 3,
    ];
    assertAllClose(xt.data, expected, 1e-6, 'x_t');
  });

  test('v target is sqrt(abar) eps - sqrt(1 - abar) x0; eps and x0 targets are the inputs', () => {
    const x0 = Tensor.from([1, -2], [2, 1]);
    const noise = Tensor.from([0.25, 1], [2, 1]);
    assert.equal(trainingTarget(schedule, 'eps', x0, noise, [1, 2]), noise);
    assert.equal(trainingTarget(schedule, 'x0', x0, noise, [1, 2]), x0);
    const v = trainingTarget(schedule, 'v', x0, noise, [1, 2]);
    const expected = [Math.sqrt(0.72) * 0.25 - Math.sqrt(0.28) * 1, Math.sqrt(0.504) * 1 + Math.sqrt(0.496) * 2];
    assertAllClose(v.data, expected, 1e-6, 'v');
  });

  test('predictEpsAndX0 inverts qSample and trainingTarget for every parameterization', () => {
    const generator = new Generator(3);
    const x0 = Tensor.randn([3, 2, 2, 2], generator);
    const noise = Tensor.randn([3, 2, 2, 2], generator);
    for (const parameterization of PARAMETERIZATIONS) {
      for (const t of [0, 2, 3]) {
        const ts = [t, t, t];
        const xt = qSample(schedule, x0, ts, noise);
        const target = trainingTarget(schedule, parameterization, x0, noise, ts);
        const { eps, x0: x0Hat } = predictEpsAndX0(schedule, parameterization, xt, t, target);
        assertAllClose(eps.data, noise.data, 2e-5, `${parameterization} eps at t=${t}`);
        assertAllClose(x0Hat.data, x0.data, 2e-5, `${parameterization} x0 at t=${t}`);
      }
    }
  });

  test('gradients flow through qSample and the v target', () => {
    const x0 = Tensor.from([1, 2], [2, 1]).requireGrad();
    const noise = Tensor.from([0, 0], [2, 1]);
    qSample(schedule, x0, [1, 3], noise).sum().backward();
    assertAllClose(x0.grad!.data, [Math.sqrt(0.72), Math.sqrt(0.3024)], 1e-6, 'd x_t / d x0');
    x0.grad = null;
    trainingTarget(schedule, 'v', x0, noise, [1, 3]).sum().backward();
    assertAllClose(x0.grad!.data, [-Math.sqrt(0.28), -Math.sqrt(0.6976)], 1e-6, 'd v / d x0');
  });

  test('bad timesteps, shapes and names are reported', () => {
    const x = Tensor.zeros([2, 1]);
    assert.throws(() => qSample(schedule, x, [0], x), /1 timesteps for a batch of shape \[2, 1\]/);
    assert.throws(() => qSample(schedule, x, [0, 4], x), /timestep 4 \(sample 1\) is not an integer in \[0, 4\)/);
    assert.throws(() => qSample(schedule, x, [0, 1], Tensor.zeros([2])), /x0 and noise must have one shape/);
    assert.throws(() => predictEpsAndX0(schedule, 'eps', x, 1.5, x), /timestep 1.5/);
    assert.throws(() => predictEpsAndX0(schedule, 'score' as never, x, 1, x), /unknown parameterization "score"/);
  });

  test('training timesteps are uniform integers in [0, T)', () => {
    const t = sampleTimesteps(schedule, 4000, new Generator(0));
    const counts = [0, 0, 0, 0];
    for (const ti of t) counts[ti]++;
    for (const c of counts) assert.ok(Math.abs(c - 1000) < 120, `counts ${counts}`);
    assert.deepEqual(sampleTimesteps(schedule, 5, new Generator(9)), sampleTimesteps(schedule, 5, new Generator(9)));
  });

  test('L2 and L1 losses are plain means', () => {
    const output = Tensor.from([1, 2, 3, 4], [1, 4]);
    const target = Tensor.from([0, 2, 5, 4], [1, 4]);
    assert.equal(diffusionLoss(output, target).item(), 5 / 4);
    assert.equal(diffusionLoss(output, target, 'l1').item(), 3 / 4);
  });
});

describe('classifier-free guidance', () => {
  // A model whose output depends on the condition: x * cond + t.
  interface Call {
    batch: number[];
    cond: number[];
  }
  const calls: Call[] = [];
  const model = (x: Tensor, t: number, cond: number[]): Tensor => {
    calls.push({ batch: Array.from(x.data), cond });
    const out = new Float32Array(x.size);
    const perSample = x.size / x.shape[0];
    for (let i = 0; i < x.size; i++) out[i] = x.data[i] * cond[Math.floor(i / perSample)] + t;
    return new Tensor(out, x.shape);
  };
  const joinConds = (u: number[], c: number[]) => [...u, ...c];
  const x = Tensor.from([1, 2, 3, 4], [2, 2]);

  test('scale 1 is a single conditional call', () => {
    calls.length = 0;
    const out = guidedDenoiser(model, [2, 3], [0, 0], 1, joinConds)(x, 5);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].cond, [2, 3]);
    assert.deepEqual(Array.from(out.data), [7, 9, 14, 17]);
  });

  test('scale s: one call on [x; x] with [uncond, cond], out = u + s (c - u)', () => {
    calls.length = 0;
    const out = guidedDenoiser(model, [2, 3], [0.5, 1], 7.5, joinConds)(x, 1);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].batch, [1, 2, 3, 4, 1, 2, 3, 4]);
    assert.deepEqual(calls[0].cond, [0.5, 1, 2, 3]);
    const u = [1 * 0.5 + 1, 2 * 0.5 + 1, 3 * 1 + 1, 4 * 1 + 1];
    const c = [1 * 2 + 1, 2 * 2 + 1, 3 * 3 + 1, 4 * 3 + 1];
    assertAllClose(
      out.data,
      u.map((ui, i) => ui + 7.5 * (c[i] - ui)),
      1e-5,
      'guided',
    );
    assert.deepEqual(out.shape, [2, 2]);
  });

  test('the doubled batch works with a tensor condition joined by concat', () => {
    const tensorModel = (input: Tensor, _t: number, cond: Tensor) => input.mul(cond);
    const cond = Tensor.from([2, 3], [2, 1]);
    const uncond = Tensor.from([1, 1], [2, 1]);
    const out = guidedDenoiser(tensorModel, cond, uncond, 3, (u, c) => concat([u, c], 0))(x, 0);
    // u = x, c = x * cond, out = x + 3 (x cond - x)
    assertAllClose(out.data, [1 + 3 * 1, 2 + 3 * 2, 3 + 3 * 6, 4 + 3 * 8], 1e-5, 'guided');
  });
});

describe('linearCombination', () => {
  test('sums coefficient * tensor for one to five terms', () => {
    const tensors = [1, 2, 3, 4, 5].map((k) => Tensor.from([k, -k], [2]));
    const coefficients = [0.5, -1, 2, 0.25, 3];
    for (let count = 1; count <= 5; count++) {
      const terms = tensors.slice(0, count).map((t, k) => [coefficients[k], t] as const);
      const expected = [0, 0];
      terms.forEach(([c, t]) => t.data.forEach((v, i) => (expected[i] += c * v)));
      assert.deepEqual(Array.from(linearCombination(terms).data), expected, `${count} terms`);
    }
    assert.throws(
      () =>
        linearCombination([
          [1, tensors[0]],
          [1, Tensor.zeros([3])],
        ]),
      /shapes \[2\] and \[3\] differ/,
    );
  });
});
