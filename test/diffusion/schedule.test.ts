import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { DiffusionSchedule, ddimTimesteps, makeBetaSchedule, samplingPlan } from '../../src/diffusion/index.js';

function assertClose(actual: number, expected: number, rtol = 1e-12, what = ''): void {
  const tol = rtol * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

describe('beta schedules', () => {
  test('linear is linspace(sqrt(start), sqrt(end), T)^2 (LDM-4 settings)', () => {
    const betas = makeBetaSchedule({ schedule: 'linear', timesteps: 1000, linearStart: 0.0015, linearEnd: 0.0195 });
    assert.equal(betas.length, 1000);
    assertClose(betas[0], 0.0015, 1e-15, 'beta_0');
    assertClose(betas[999], 0.0195, 1e-15, 'beta_999');
    // (sqrt(0.0015) + 499/999 (sqrt(0.0195) - sqrt(0.0015)))^2; torch gives 0.007945156998524846
    assertClose(betas[499], 0.007945156998524846, 1e-14, 'beta_499');
    assertClose(betas[500], 0.007963175016542865, 1e-14, 'beta_500');
  });

  test('defaults are the CompVis DDPM class defaults: linear, T 1000, 1e-4 .. 2e-2', () => {
    const schedule = DiffusionSchedule.create();
    assert.equal(schedule.numTimesteps, 1000);
    assertClose(schedule.betas[0], 1e-4, 1e-15, 'beta_0');
    assertClose(schedule.betas[999], 2e-2, 1e-15, 'beta_999');
    const middle = (Math.sqrt(1e-4) + (500 / 999) * (Math.sqrt(2e-2) - Math.sqrt(1e-4))) ** 2;
    assertClose(schedule.betas[500], middle, 1e-14, 'beta_500');
  });

  test('sqrt_linear is plain linspace, sqrt is its square root', () => {
    const plain = makeBetaSchedule({ schedule: 'sqrt_linear', timesteps: 5, linearStart: 0.1, linearEnd: 0.5 });
    [0.1, 0.2, 0.3, 0.4, 0.5].forEach((b, i) => assertClose(plain[i], b, 1e-15, `beta_${i}`));
    const rooted = makeBetaSchedule({ schedule: 'sqrt', timesteps: 5, linearStart: 0.1, linearEnd: 0.5 });
    [0.1, 0.2, 0.3, 0.4, 0.5].forEach((b, i) => assertClose(rooted[i], Math.sqrt(b), 1e-15, `beta_${i}`));
  });

  test('cosine: 1 - abar(t+1)/abar(t) with abar(t) = cos^2((t/T + s)/(1 + s) pi/2), clipped at 0.999', () => {
    const T = 1000;
    const s = 8e-3;
    const betas = makeBetaSchedule({ schedule: 'cosine', timesteps: T });
    const f = (t: number) => Math.cos(((t / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
    for (const t of [0, 1, 500, 998]) assertClose(betas[t], 1 - f(t + 1) / f(t), 1e-9, `beta_${t}`);
    assertClose(betas[0], 4.1284224821747095e-5, 1e-9, 'beta_0 (torch)');
    assert.equal(betas[999], 0.999);
    // abar_t of the schedule is f(t + 1) / f(0).
    const schedule = DiffusionSchedule.create({ schedule: 'cosine', timesteps: T });
    assertClose(schedule.alphasCumprod[300], f(301) / f(0), 1e-9, 'abar_300');
  });

  test('bad options are named in the error', () => {
    assert.throws(() => makeBetaSchedule({ timesteps: 0 }), /timesteps must be a positive integer, got 0/);
    assert.throws(() => makeBetaSchedule({ schedule: 'quadratic' as never }), /unknown schedule "quadratic"/);
    assert.throws(() => new DiffusionSchedule(Float64Array.from([0.1, 1])), /beta at t=1 is 1/);
  });
});

describe('DiffusionSchedule buffers', () => {
  // abar = 0.9, 0.72, 0.504, 0.3024
  const schedule = new DiffusionSchedule(Float64Array.from([0.1, 0.2, 0.3, 0.4]));

  test('cumulative products and the shifted abar_{t-1}', () => {
    [0.9, 0.72, 0.504, 0.3024].forEach((a, t) => assertClose(schedule.alphasCumprod[t], a, 1e-15, `abar_${t}`));
    [1, 0.9, 0.72, 0.504].forEach((a, t) => assertClose(schedule.alphasCumprodPrev[t], a, 1e-15, `abar_prev_${t}`));
    assertClose(schedule.sqrtOneMinusAlphasCumprod[1], Math.sqrt(0.28), 1e-15, 'sqrt(1 - abar_1)');
  });

  test('posterior variance, clipped log-variance and mean coefficients (DDPM eq. 7)', () => {
    // t = 2: beta 0.3, abar 0.504, abar_prev 0.72, alpha 0.7
    assertClose(schedule.posteriorVariance[2], (0.3 * 0.28) / 0.496, 1e-15, 'variance');
    assertClose(schedule.posteriorLogVarianceClipped[2], Math.log((0.3 * 0.28) / 0.496), 1e-15, 'log variance');
    assertClose(schedule.posteriorMeanCoef1[2], (0.3 * Math.sqrt(0.72)) / 0.496, 1e-15, 'coef1');
    assertClose(schedule.posteriorMeanCoef2[2], (0.28 * Math.sqrt(0.7)) / 0.496, 1e-15, 'coef2');
    // t = 0: the posterior is a point mass, log clipped at 1e-20.
    assert.equal(schedule.posteriorVariance[0], 0);
    assertClose(schedule.posteriorLogVarianceClipped[0], Math.log(1e-20), 1e-15, 'clipped');
    assertClose(schedule.posteriorMeanCoef1[0], 1, 1e-15, 'coef1 at 0');
    assert.equal(schedule.posteriorMeanCoef2[0], 0);
  });
});

describe('DDIM timesteps', () => {
  test('range(0, T, T // S) + 1', () => {
    assert.deepEqual(ddimTimesteps(1000, 50).slice(0, 3), [1, 21, 41]);
    assert.equal(ddimTimesteps(1000, 50).length, 50);
    assert.equal(ddimTimesteps(1000, 50)[49], 981);
    assert.deepEqual(ddimTimesteps(10, 5), [1, 3, 5, 7, 9]);
    // T // S rounds down: 1000 // 30 = 33 gives 31 points, as in CompVis.
    assert.equal(ddimTimesteps(1000, 30).length, 31);
  });

  test('the offset is dropped where it would reach T (CompVis cannot index that)', () => {
    assert.deepEqual(ddimTimesteps(4, 4), [0, 1, 2, 3]);
    assert.deepEqual(ddimTimesteps(1000, 3), [0, 333, 666, 999]);
    assert.throws(() => ddimTimesteps(10, 11), /steps must be an integer in \[1, 10\], got 11/);
  });

  test('the plan steps to the next timestep, and last to abar_{t-1} of the smallest', () => {
    const schedule = new DiffusionSchedule(Float64Array.from([0.1, 0.2, 0.3, 0.4]));
    const plan = samplingPlan(schedule, 2); // timesteps [3, 1]
    assert.deepEqual(plan.timesteps, [3, 1]);
    assert.deepEqual(plan.alphaBar, [schedule.alphasCumprod[3], schedule.alphasCumprod[1]]);
    assert.deepEqual(plan.alphaBarPrev, [schedule.alphasCumprod[1], schedule.alphasCumprod[0]]);
    assert.deepEqual(samplingPlan(schedule, 4).alphaBarPrev.at(-1), 1);
  });
});
