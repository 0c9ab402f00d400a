// Samplers against a problem with a closed-form answer: data x0 ~ N(mu, s^2) in independent
// dimensions. Then x_t ~ N(sqrt(a) mu, a s^2 + 1 - a) with a = abar_t, and the exact
// predictors are the conditional means of Gaussians:
//   E[eps | x_t] = sqrt(1 - a) / (a s^2 + 1 - a) (x_t - sqrt(a) mu)
//   E[x0  | x_t] = mu + sqrt(a) s^2 / (a s^2 + 1 - a) (x_t - sqrt(a) mu)
// A sampler driven by them must reproduce N(mu, s^2) (at the noise level it stops at).
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import {
  DiffusionSchedule,
  sample,
  samplingPlan,
  type DenoiseFn,
  type Parameterization,
  type SampleOptions,
} from '../../src/diffusion/index.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

const MU = [0.5, -1];
const STD = [0.3, 0.8];
const DIMS = MU.length;
const N = 3000;
const schedule = DiffusionSchedule.create(); // linear, T 1000, 1e-4 .. 2e-2

/** The exact network output for each parameterization, for a batch [N, DIMS]. */
function exactDenoiser(parameterization: Parameterization): DenoiseFn {
  return (x, t) => {
    const a = schedule.alphasCumprod[t];
    // Per dimension: output = scale * (x_t - sqrt(a) mu) + shift.
    const scale: number[] = [];
    const shift: number[] = [];
    for (let d = 0; d < DIMS; d++) {
      const variance = a * STD[d] ** 2 + 1 - a;
      const epsScale = Math.sqrt(1 - a) / variance;
      const x0Scale = (Math.sqrt(a) * STD[d] ** 2) / variance;
      if (parameterization === 'eps') [scale[d], shift[d]] = [epsScale, 0];
      if (parameterization === 'x0') [scale[d], shift[d]] = [x0Scale, MU[d]];
      // v = sqrt(a) eps - sqrt(1 - a) x0
      if (parameterization === 'v') {
        [scale[d], shift[d]] = [Math.sqrt(a) * epsScale - Math.sqrt(1 - a) * x0Scale, -Math.sqrt(1 - a) * MU[d]];
      }
    }
    const out = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const d = i % DIMS;
      out[i] = scale[d] * (x.data[i] - Math.sqrt(a) * MU[d]) + shift[d];
    }
    return new Tensor(out, x.shape);
  };
}

/** Draws from q(x_T) exactly, so only the sampler's own error remains. */
function exactXT(generator: Generator): Tensor {
  const a = schedule.alphasCumprod[schedule.numTimesteps - 1];
  const x = Tensor.randn([N, DIMS], generator);
  for (let i = 0; i < x.size; i++) {
    const d = i % DIMS;
    x.data[i] = Math.sqrt(a) * MU[d] + Math.sqrt(a * STD[d] ** 2 + 1 - a) * x.data[i];
  }
  return x;
}

function moments(x: Tensor): { mean: number[]; std: number[] } {
  const mean = new Array<number>(DIMS).fill(0);
  const square = new Array<number>(DIMS).fill(0);
  for (let i = 0; i < x.size; i++) {
    mean[i % DIMS] += x.data[i] / N;
    square[i % DIMS] += x.data[i] ** 2 / N;
  }
  return { mean, std: mean.map((m, d) => Math.sqrt(square[d] - m * m)) };
}

/** The marginal at abar `a`: N(sqrt(a) mu, a s^2 + 1 - a). */
function marginal(a: number): { mean: number[]; std: number[] } {
  return { mean: MU.map((m) => Math.sqrt(a) * m), std: STD.map((s) => Math.sqrt(a * s * s + 1 - a)) };
}

// Four standard errors of the mean and of the standard deviation of N samples.
const meanTolerance = (d: number) => (4 * STD[d]) / Math.sqrt(N);
const stdTolerance = (d: number) => (4 * STD[d]) / Math.sqrt(2 * N);

function assertMatches(x: Tensor, target: { mean: number[]; std: number[] }, what: string): void {
  const got = moments(x);
  for (let d = 0; d < DIMS; d++) {
    const meanError = Math.abs(got.mean[d] - target.mean[d]);
    const stdError = Math.abs(got.std[d] - target.std[d]);
    assert.ok(meanError < meanTolerance(d), `${what} dim ${d}: mean ${got.mean[d]} vs ${target.mean[d]}`);
    assert.ok(stdError < stdTolerance(d), `${what} dim ${d}: std ${got.std[d]} vs ${target.std[d]}`);
  }
}

function run(options: Omit<SampleOptions, 'generator'>, seed: number, parameterization: Parameterization = 'eps') {
  const generator = new Generator(seed);
  const xT = exactXT(generator);
  return sample(schedule, exactDenoiser(parameterization), [N, DIMS], { ...options, generator, xT, parameterization });
}

describe('samplers on Gaussian data with the exact denoiser', () => {
  test('DDIM with eta 1 and all steps matches DDPM in distribution, and both match the data', () => {
    // Both end on clean data: DDIM's grid for S = T starts at timestep 0.
    const ddpm = run({ sampler: 'ddpm' }, 1);
    assertMatches(ddpm, marginal(1), 'DDPM');
    const ddim = run({ sampler: 'ddim', eta: 1, steps: schedule.numTimesteps }, 1);
    assertMatches(ddim, marginal(1), 'DDIM eta 1');
    // Stronger than equal moments: with the same x_T and noise draws the two samplers are one
    // Markov chain (sigma^2 is the posterior variance, the mean the posterior mean), so each
    // sample agrees up to float32 rounding.
    let worst = 0;
    for (let i = 0; i < ddpm.size; i++) worst = Math.max(worst, Math.abs(ddpm.data[i] - ddim.data[i]));
    assert.ok(worst < 1e-3, `DDPM vs DDIM eta 1: max difference ${worst}`);
  });

  test('DDIM eta 0 (50 steps), PLMS (20) and DPM-Solver++(2M) (50) reach the data distribution', () => {
    // These grids start at timestep 1, so they stop at abar_0 (1 - 1e-4): N(mu, s^2) to 1e-4.
    const target = marginal(schedule.alphasCumprod[0]);
    assertMatches(run({ sampler: 'ddim', steps: 50 }, 3), target, 'DDIM 50');
    assertMatches(run({ sampler: 'plms', steps: 20 }, 4), target, 'PLMS 20');
    assertMatches(run({ sampler: 'dpm++2m', steps: 50 }, 5), target, 'DPM++2M 50');
  });

  test('deterministic samplers against the exact ODE solution, and their order of convergence', () => {
    // The probability-flow ODE moves each sample along its quantile of the Gaussian marginals:
    // x_end = m_end + (s_end / s_T) (x_T - m_T). Errors are per sample, so no statistics enter.
    const xT = exactXT(new Generator(6));
    const errorOf = (
      sampler: 'ddim' | 'plms' | 'dpm++2m',
      steps: number,
      parameterization: Parameterization = 'eps',
    ) => {
      const plan = samplingPlan(schedule, steps);
      const start = marginal(plan.alphaBar[0]);
      const end = marginal(plan.alphaBarPrev.at(-1)!);
      const x = sample(schedule, exactDenoiser(parameterization), [N, DIMS], {
        sampler,
        steps,
        parameterization,
        generator: new Generator(0),
        xT,
      });
      let worst = 0;
      for (let i = 0; i < x.size; i++) {
        const d = i % DIMS;
        const exact = end.mean[d] + (end.std[d] / start.std[d]) * (xT.data[i] - start.mean[d]);
        worst = Math.max(worst, Math.abs(x.data[i] - exact));
      }
      return worst;
    };
    // Measured (max over samples): DDIM 50: 0.06; PLMS 20: 0.003; DPM++2M 20: 0.10, 50: 0.022.
    // DPM++2M's error at 20 steps comes from its second-to-last step, t = 51 -> 1, a long
    // stride in lambda (2.3 -> 4.3) where the 2M extrapolation of x0 overshoots on this data.
    const [ddim50, ddim100] = [errorOf('ddim', 50), errorOf('ddim', 100)];
    const [dpm20, dpm50, dpm100] = [errorOf('dpm++2m', 20), errorOf('dpm++2m', 50), errorOf('dpm++2m', 100)];
    assert.ok(ddim50 < 0.08, `DDIM 50: ${ddim50}`);
    assert.ok(errorOf('plms', 20) < 0.01, 'PLMS 20');
    assert.ok(dpm20 < 0.15, `DPM++2M 20: ${dpm20}`);
    // First order: doubling the steps halves DDIM's error; second order: quarters DPM++2M's.
    assert.ok(ddim50 / ddim100 > 1.7 && ddim50 / ddim100 < 2.5, `DDIM error ratio ${ddim50 / ddim100}`);
    assert.ok(dpm50 / dpm100 > 3, `DPM++2M error ratio ${dpm50 / dpm100}`);
    // The parameterization changes nothing but rounding.
    const epsError = errorOf('dpm++2m', 10);
    for (const parameterization of ['x0', 'v'] as const) {
      assert.ok(Math.abs(errorOf('dpm++2m', 10, parameterization) - epsError) < 1e-3, parameterization);
    }
  });
});

describe('determinism and options', () => {
  const tiny = new DiffusionSchedule(Float64Array.from({ length: 20 }, (_, t) => 0.02 + 0.01 * t));
  const denoise: DenoiseFn = (x, t) => x.mul(0.1 + 0.01 * t);

  test('the same seed gives the same samples, another seed others', () => {
    for (const options of [{ sampler: 'ddpm' }, { sampler: 'ddim', eta: 0.5, steps: 5 }] as const) {
      const a = sample(tiny, denoise, [2, 3], { ...options, generator: new Generator(42) });
      const b = sample(tiny, denoise, [2, 3], { ...options, generator: new Generator(42) });
      const c = sample(tiny, denoise, [2, 3], { ...options, generator: new Generator(43) });
      assert.deepEqual(a.data, b.data, options.sampler);
      assert.notDeepEqual(a.data, c.data, options.sampler);
    }
  });

  test('the callback sees every step', () => {
    const seen: [number, number, number][] = [];
    sample(tiny, denoise, [1, 2], {
      sampler: 'plms',
      steps: 4,
      generator: new Generator(0),
      callback: (s) => seen.push([s.step, s.totalSteps, s.t]),
    });
    assert.deepEqual(seen, [
      [0, 4, 16],
      [1, 4, 11],
      [2, 4, 6],
      [3, 4, 1],
    ]);
    // DDPM takes every timestep whatever `steps` says.
    let ddpmSteps = 0;
    sample(tiny, denoise, [1, 2], {
      sampler: 'ddpm',
      steps: 5,
      generator: new Generator(0),
      callback: () => ddpmSteps++,
    });
    assert.equal(ddpmSteps, 20);
  });

  test('inconsistent options are refused with the values named', () => {
    const generator = new Generator(0);
    assert.throws(
      () => sample(tiny, denoise, [1], { sampler: 'euler' as never, generator }),
      /unknown sampler "euler"/,
    );
    assert.throws(() => sample(tiny, denoise, [1], { sampler: 'plms', eta: 1, generator }), /eta 1 is for ddim only/);
    assert.throws(
      () => sample(tiny, denoise, [2], { sampler: 'ddim', steps: 4, xT: Tensor.zeros([3]), generator }),
      /xT has shape \[3\], expected \[2\]/,
    );
    assert.throws(() => sample(tiny, denoise, [2], { sampler: 'ddim', steps: 40, generator }), /\[1, 20\], got 40/);
    assert.throws(
      () => sample(tiny, () => Tensor.zeros([1]), [2], { sampler: 'ddim', steps: 2, generator }),
      /the denoiser returned shape \[1\] for input \[2\] at t=11/,
    );
  });
});
