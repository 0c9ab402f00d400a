// The fused kernels against the unfused ops they replace, on both backends: GEGLU's gate
// against chunk + gelu + mul (forward and gradient), and the Adam step of the native backend
// against the js backend's double-precision loop.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { grad } from '../../src/tensor/autograd.js';
import { backendByName, withBackend, type BackendName } from '../../src/tensor/device.js';
import { gelu, geglu } from '../../src/tensor/ops/elementwise.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

/** max|got - want| / max|want|. */
function relativeError(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return worst / scale;
}

const BACKENDS: BackendName[] = ['js', 'native'];

describe('geglu', () => {
  // 3 x 5 rows of 2 x 7: odd widths; 64 x 64 rows of 2 x 128: the native kernel's threaded path.
  for (const shape of [
    [3, 5, 14],
    [64, 64, 256],
  ]) {
    for (const backend of BACKENDS) {
      test(`equals a * gelu(gate) after chunk, with its gradient, ${backend}, [${shape}]`, () => {
        withBackend(backend, () => {
          const gen = new Generator(3);
          const x = Tensor.randn(shape, gen).mul(2).detach().requireGrad();
          const gy = Tensor.randn([...shape.slice(0, -1), shape[2] / 2], gen);
          const fused = geglu(x);
          const [a, gate] = x.chunk(2, -1);
          const unfused = a.mul(gelu(gate));
          assert.deepEqual(fused.shape, unfused.shape);
          assert.ok(relativeError(fused.data, unfused.data) < 1e-6, 'forward');
          const [gFused] = grad([fused], [x], { gradOutputs: [gy] });
          const [gUnfused] = grad([unfused], [x], { gradOutputs: [gy] });
          assert.ok(relativeError(gFused.data, gUnfused.data) < 1e-6, 'gradient');
        });
      });
    }
  }

  test('refuses an odd last axis', () => {
    assert.throws(() => geglu(Tensor.zeros([2, 3])), /even size/);
  });
});

describe('adamStep', () => {
  test('native matches the js backend over 20 steps', () => {
    const n = 70_001; // above the native kernel's threading threshold, not a multiple of 16
    const gen = new Generator(5);
    const start = Tensor.randn([n], gen).data;
    const states = BACKENDS.map(() => ({
      param: start.slice(),
      expAvg: new Float32Array(n),
      expAvgSq: new Float32Array(n),
    }));
    for (let t = 1; t <= 20; t++) {
      const gradient = Tensor.randn([n], gen).data;
      const lr = 1e-2;
      const p = {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        keep: 1 - lr * 1e-2,
        stepSize: lr / (1 - 0.9 ** t),
        biasCorrection2Sqrt: Math.sqrt(1 - 0.999 ** t),
      };
      BACKENDS.forEach((name, i) => {
        const s = states[i];
        backendByName(name).adamStep(s.param, gradient, s.expAvg, s.expAvgSq, p);
      });
    }
    const [js, native] = states;
    assert.ok(relativeError(native.expAvg, js.expAvg) < 1e-6, 'exp_avg');
    assert.ok(relativeError(native.expAvgSq, js.expAvgSq) < 1e-6, 'exp_avg_sq');
    // Each step moves a parameter by about lr; float32 rounding of the update is ~1e-7 of it.
    assert.ok(relativeError(native.param, js.param) < 1e-6, 'param');
    assert.ok(relativeError(native.param, start) > 1e-3, 'the parameters moved');
  });
});
