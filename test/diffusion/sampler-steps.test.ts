// Each sampler's update against numbers worked out by hand, per element, on a tiny tensor
// with a fake denoiser whose output is a known function of (x, t).
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import {
  DiffusionSchedule,
  ddimSigma,
  sampleDDIM,
  sampleDDPM,
  sampleDPMSolverPP2M,
  samplePLMS,
  type SamplerStep,
} from '../../src/diffusion/index.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= atol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

// The fake network predicts eps = 0.5 x + 0.1 t - 0.2, elementwise.
const fakeEps = (x: number, t: number): number => 0.5 * x + 0.1 * t - 0.2;
const calls: number[] = [];
const denoise = (x: Tensor, t: number): Tensor => {
  calls.push(t);
  return new Tensor(
    x.data.map((v) => fakeEps(v, t)),
    x.shape,
  );
};
const x0Of = (x: number, eps: number, a: number) => (x - Math.sqrt(1 - a) * eps) / Math.sqrt(a);

// T = 10, beta_t = 0.05 (t + 1): abar falls from 0.95 to about 0.0002.
const schedule = new DiffusionSchedule(Float64Array.from({ length: 10 }, (_, t) => 0.05 * (t + 1)));
const abar = (t: number) => schedule.alphasCumprod[t];
const xT = Tensor.from([1, -2, 0.5], [1, 3]);

function record(): { steps: SamplerStep[]; callback: (s: SamplerStep) => void } {
  const steps: SamplerStep[] = [];
  return { steps, callback: (s) => steps.push(s) };
}

describe('DDPM step', () => {
  test('x_{t-1} = posterior mean + posterior std * z, and no noise at t = 0', () => {
    const small = new DiffusionSchedule(Float64Array.from([0.1, 0.2, 0.3]));
    const { steps, callback } = record();
    calls.length = 0;
    sampleDDPM(small, denoise, xT, { generator: new Generator(5), callback });
    assert.deepEqual(calls, [2, 1, 0]);
    const replay = new Generator(5);
    const z2 = Tensor.randn([1, 3], replay).data;
    const z1 = Tensor.randn([1, 3], replay).data;
    // t = 2: beta 0.3, abar 0.504, abar_prev 0.72, alpha 0.7
    const x2 = Array.from(xT.data);
    const x1 = x2.map((x, i) => {
      const x0 = x0Of(x, fakeEps(x, 2), 0.504);
      const mean = ((0.3 * Math.sqrt(0.72)) / 0.496) * x0 + ((0.28 * Math.sqrt(0.7)) / 0.496) * x;
      return mean + Math.sqrt((0.3 * 0.28) / 0.496) * z2[i];
    });
    assertAllClose(steps[0].x.data, x1, 1e-5, 'x_1');
    assert.equal(steps[0].t, 2);
    // t = 1: beta 0.2, abar 0.72, abar_prev 0.9, alpha 0.8
    const x0 = x1.map((x, i) => {
      const x0Hat = x0Of(x, fakeEps(x, 1), 0.72);
      const mean = ((0.2 * Math.sqrt(0.9)) / 0.28) * x0Hat + ((0.1 * Math.sqrt(0.8)) / 0.28) * x;
      return mean + Math.sqrt((0.2 * 0.1) / 0.28) * z1[i];
    });
    assertAllClose(steps[1].x.data, x0, 1e-5, 'x_0');
    // t = 0: the mean, which is x0_hat itself (coef1 = 1, coef2 = 0).
    assertAllClose(
      steps[2].x.data,
      x0.map((x) => x0Of(x, fakeEps(x, 0), 0.9)),
      1e-5,
      'final',
    );
    assertAllClose(steps[2].predX0.data, steps[2].x.data, 1e-6, 'predX0');
  });
});

describe('DDIM step', () => {
  test('eta 0: x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps on timesteps [9, 7, 5, 3, 1]', () => {
    const { steps, callback } = record();
    calls.length = 0;
    sampleDDIM(schedule, denoise, xT, { steps: 5, callback });
    assert.deepEqual(calls, [9, 7, 5, 3, 1]);
    assert.deepEqual(
      steps.map((s) => [s.step, s.totalSteps, s.t]),
      [0, 1, 2, 3, 4].map((i) => [i, 5, 9 - 2 * i]),
    );
    let x = Array.from(xT.data);
    const prevOf = [7, 5, 3, 1, 0];
    [9, 7, 5, 3, 1].forEach((t, i) => {
      const [a, aPrev] = [abar(t), abar(prevOf[i])]; // the last step goes to abar_0
      const eps = x.map((v) => fakeEps(v, t));
      const x0 = x.map((v, j) => x0Of(v, eps[j], a));
      x = x0.map((v, j) => Math.sqrt(aPrev) * v + Math.sqrt(1 - aPrev) * eps[j]);
      assertAllClose(steps[i].predX0.data, x0, 1e-4, `predX0 at t=${t}`);
      assertAllClose(steps[i].x.data, x, 1e-4, `x after t=${t}`);
    });
  });

  test('eta 0.7: sigma = eta sqrt((1 - a_prev)/(1 - a) (1 - a/a_prev)), noise from the generator', () => {
    const { steps, callback } = record();
    sampleDDIM(schedule, denoise, xT, { steps: 2, eta: 0.7, generator: new Generator(11), callback });
    const z = Tensor.randn([1, 3], new Generator(11)).data;
    // 10 // 2 = 5: timesteps [6, 1]
    assert.deepEqual(
      steps.map((s) => s.t),
      [6, 1],
    );
    const [a, aPrev] = [abar(6), abar(1)];
    const sigma = 0.7 * Math.sqrt(((1 - aPrev) / (1 - a)) * (1 - a / aPrev));
    assert.ok(Math.abs(ddimSigma(a, aPrev, 0.7) - sigma) < 1e-15);
    const expected = Array.from(xT.data).map((x, i) => {
      const eps = fakeEps(x, 6);
      return Math.sqrt(aPrev) * x0Of(x, eps, a) + Math.sqrt(1 - aPrev - sigma * sigma) * eps + sigma * z[i];
    });
    assertAllClose(steps[0].x.data, expected, 1e-5, 'x after t=6');
  });
});

describe('PLMS steps', () => {
  // Runs CompVis PLMS by hand on each element and returns x after every step.
  function plmsByHand(timesteps: number[], x: number[]): number[][] {
    const out: number[][] = [];
    const history: number[][] = [];
    const update = (xs: number[], eps: number[], t: number, aPrev: number) =>
      xs.map((v, j) => Math.sqrt(aPrev) * x0Of(v, eps[j], abar(t)) + Math.sqrt(1 - aPrev) * eps[j]);
    timesteps.forEach((t, i) => {
      const aPrev = i + 1 < timesteps.length ? abar(timesteps[i + 1]) : abar(0);
      const e = x.map((v) => fakeEps(v, t));
      let ePrime: number[];
      const [e1, e2, e3] = history;
      if (history.length === 0) {
        const xEuler = update(x, e, t, aPrev);
        const eNext = xEuler.map((v) => fakeEps(v, timesteps[i + 1]));
        ePrime = e.map((v, j) => (v + eNext[j]) / 2);
      } else if (history.length === 1) {
        ePrime = e.map((v, j) => (3 * v - e1[j]) / 2);
      } else if (history.length === 2) {
        ePrime = e.map((v, j) => (23 * v - 16 * e1[j] + 5 * e2[j]) / 12);
      } else {
        ePrime = e.map((v, j) => (55 * v - 59 * e1[j] + 37 * e2[j] - 9 * e3[j]) / 24);
      }
      history.unshift(e);
      if (history.length > 3) history.pop();
      x = update(x, ePrime, t, aPrev);
      out.push(x);
    });
    return out;
  }

  test('first step pseudo improved Euler, then (3, -1)/2, (23, -16, 5)/12, (55, -59, 37, -9)/24', () => {
    const { steps, callback } = record();
    calls.length = 0;
    samplePLMS(schedule, denoise, xT, { steps: 5, callback });
    // One extra call: the Euler predictor at the second timestep.
    assert.deepEqual(calls, [9, 7, 7, 5, 3, 1]);
    const expected = plmsByHand([9, 7, 5, 3, 1], Array.from(xT.data));
    steps.forEach((s, i) => assertAllClose(s.x.data, expected[i], 1e-4, `x after step ${i}`));
  });
});

describe('DPM-Solver++(2M) steps', () => {
  const lambda = (a: number) => Math.log(Math.sqrt(a) / Math.sqrt(1 - a));

  test('first step equals DDIM eta 0; second step is the 2M update; last step first order', () => {
    const { steps, callback } = record();
    calls.length = 0;
    sampleDPMSolverPP2M(schedule, denoise, xT, { steps: 5, callback });
    assert.deepEqual(calls, [9, 7, 5, 3, 1]);
    const ddimSteps = record();
    sampleDDIM(schedule, denoise, xT, { steps: 5, callback: ddimSteps.callback });
    assertAllClose(steps[0].x.data, ddimSteps.steps[0].x.data, 1e-5, 'first step vs DDIM');

    // Second step: from s = 7 to t = 5, with u = 9 the previous timestep.
    const x1 = Array.from(steps[0].x.data);
    const [aU, aS, aT] = [abar(9), abar(7), abar(5)];
    const h = lambda(aT) - lambda(aS);
    const r = (lambda(aS) - lambda(aU)) / h;
    const x0U = Array.from(xT.data).map((v) => x0Of(v, fakeEps(v, 9), aU));
    const x0S = x1.map((v) => x0Of(v, fakeEps(v, 7), aS));
    const x2 = x1.map((v, j) => {
      const d = (1 + 1 / (2 * r)) * x0S[j] - (1 / (2 * r)) * x0U[j];
      return (Math.sqrt(1 - aT) / Math.sqrt(1 - aS)) * v - Math.sqrt(aT) * (Math.exp(-h) - 1) * d;
    });
    assertAllClose(steps[1].x.data, x2, 1e-4, 'second step');

    // Last step, first order, from t = 1 to abar_0: x = (sigma_0 / sigma_1) x + alpha_0 (1 - e^{-h}) x0.
    const [a1, a0] = [abar(1), abar(0)];
    const hLast = lambda(a0) - lambda(a1);
    const x4 = Array.from(steps[3].x.data).map((v) => {
      const x0 = x0Of(v, fakeEps(v, 1), a1);
      return (Math.sqrt(1 - a0) / Math.sqrt(1 - a1)) * v + Math.sqrt(a0) * (1 - Math.exp(-hLast)) * x0;
    });
    assertAllClose(steps[4].x.data, x4, 1e-4, 'last step');
  });

  test('a clean final target (grid from 0) returns the predicted x0', () => {
    const small = new DiffusionSchedule(Float64Array.from([0.1, 0.2, 0.3]));
    const { steps, callback } = record();
    sampleDPMSolverPP2M(small, denoise, xT, { steps: 3, callback });
    assert.deepEqual(
      steps.map((s) => s.t),
      [2, 1, 0],
    );
    assertAllClose(steps[2].x.data, steps[2].predX0.data, 1e-6, 'x vs predX0');
  });
});

describe('clipX0', () => {
  test('clamps predicted x0 and keeps eps consistent with it', () => {
    const { steps, callback } = record();
    const big = Tensor.from([30, -40, 0.5], [1, 3]);
    sampleDDIM(schedule, denoise, big, { steps: 1, clipX0: 1, callback });
    const a = abar(1);
    const aPrev = abar(0);
    const expected = Array.from(big.data).map((v) => {
      const x0 = Math.min(1, Math.max(-1, x0Of(v, fakeEps(v, 1), a)));
      const eps = (v - Math.sqrt(a) * x0) / Math.sqrt(1 - a);
      return Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps;
    });
    assertAllClose(steps[0].predX0.data, [1, -1, x0Of(0.5, fakeEps(0.5, 1), a)], 1e-5, 'clamped x0');
    assertAllClose(steps[0].x.data, expected, 1e-4, 'x');
  });
});
