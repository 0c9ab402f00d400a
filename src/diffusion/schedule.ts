// Beta schedules and the buffers derived from them, as CompVis `make_beta_schedule` and
// `DDPM.register_schedule` (ldm/modules/diffusionmodules/util.py, ldm/models/diffusion/ddpm.py).
// Everything is float64, like the CompVis computation before it casts its buffers to float32.

export type BetaScheduleName = 'linear' | 'sqrt_linear' | 'cosine' | 'sqrt';

export interface ScheduleOptions {
  /** Default 'linear'. */
  schedule?: BetaScheduleName;
  /** T, the number of diffusion steps; default 1000. */
  timesteps?: number;
  /** Default 1e-4 (the CompVis DDPM class default; LDM configs set 0.0015, SD 0.00085). */
  linearStart?: number;
  /** Default 2e-2 (the CompVis DDPM class default; LDM configs set 0.0195, SD 0.012). */
  linearEnd?: number;
  /** The cosine schedule's offset s (Nichol & Dhariwal 2021, eq. 17); default 8e-3. */
  cosineS?: number;
}

/** The CompVis DDPM class defaults. */
export const SCHEDULE_DEFAULTS: Readonly<Required<ScheduleOptions>> = Object.freeze({
  schedule: 'linear',
  timesteps: 1000,
  linearStart: 1e-4,
  linearEnd: 2e-2,
  cosineS: 8e-3,
});

/** `steps` evenly spaced values from start to end, computed as torch.linspace does on the CPU. */
function linspace(start: number, end: number, steps: number): Float64Array {
  const out = new Float64Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (steps - 1);
  const halfway = Math.floor(steps / 2);
  // The second half counts back from `end`, so the last value is exactly `end`.
  for (let i = 0; i < steps; i++) out[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
  return out;
}

/** Betas of a named schedule, float64, length `timesteps`. */
export function makeBetaSchedule(options: ScheduleOptions = {}): Float64Array {
  const { schedule, timesteps, linearStart, linearEnd, cosineS } = { ...SCHEDULE_DEFAULTS, ...options };
  if (!Number.isInteger(timesteps) || timesteps < 1) {
    throw new Error(`makeBetaSchedule: timesteps must be a positive integer, got ${timesteps}`);
  }
  switch (schedule) {
    case 'linear':
      // "linear" in LDM is linear in sqrt(beta): linspace of square roots, squared.
      return linspace(Math.sqrt(linearStart), Math.sqrt(linearEnd), timesteps).map((b) => b * b);
    case 'sqrt_linear':
      return linspace(linearStart, linearEnd, timesteps);
    case 'sqrt':
      return linspace(linearStart, linearEnd, timesteps).map(Math.sqrt);
    case 'cosine': {
      // abar(t) = cos^2(((t / T + s) / (1 + s)) * pi / 2), normalised by abar(0);
      // beta_t = 1 - abar(t + 1) / abar(t), clipped to at most 0.999.
      const alphaBar = (i: number): number =>
        Math.cos((((i / timesteps + cosineS) / (1 + cosineS)) * Math.PI) / 2) ** 2;
      const betas = new Float64Array(timesteps);
      for (let i = 0; i < timesteps; i++) {
        betas[i] = Math.min(Math.max(1 - alphaBar(i + 1) / alphaBar(i), 0), 0.999);
      }
      return betas;
    }
    default:
      throw new Error(`makeBetaSchedule: unknown schedule "${schedule as string}" (linear, sqrt_linear, cosine, sqrt)`);
  }
}

/** The forward process q(x_t | x_0) and its posterior q(x_{t-1} | x_t, x_0), per timestep. */
export class DiffusionSchedule {
  readonly numTimesteps: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  /** abar_t = prod_{s <= t} (1 - beta_s). */
  readonly alphasCumprod: Float64Array;
  /** abar_{t-1}, with abar_{-1} = 1. */
  readonly alphasCumprodPrev: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** Posterior variance beta_t (1 - abar_{t-1}) / (1 - abar_t) (DDPM eq. 7; CompVis v_posterior = 0). */
  readonly posteriorVariance: Float64Array;
  /** log of the posterior variance clipped below at 1e-20, since it is 0 at t = 0. */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** Posterior mean = coef1 * x0 + coef2 * x_t (DDPM eq. 7). */
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;

  constructor(betas: Float64Array) {
    const T = betas.length;
    if (T < 1) throw new Error('DiffusionSchedule: betas must not be empty');
    for (let t = 0; t < T; t++) {
      if (!(betas[t] > 0 && betas[t] < 1)) {
        throw new Error(`DiffusionSchedule: beta at t=${t} is ${betas[t]}; every beta must lie in (0, 1)`);
      }
    }
    this.numTimesteps = T;
    this.betas = Float64Array.from(betas);
    this.alphas = this.betas.map((b) => 1 - b);
    this.alphasCumprod = new Float64Array(T);
    let product = 1;
    for (let t = 0; t < T; t++) {
      product *= this.alphas[t];
      this.alphasCumprod[t] = product;
    }
    this.alphasCumprodPrev = new Float64Array(T);
    this.alphasCumprodPrev[0] = 1;
    this.alphasCumprodPrev.set(this.alphasCumprod.subarray(0, T - 1), 1);
    this.sqrtAlphasCumprod = this.alphasCumprod.map(Math.sqrt);
    this.sqrtOneMinusAlphasCumprod = this.alphasCumprod.map((a) => Math.sqrt(1 - a));
    this.posteriorVariance = new Float64Array(T);
    this.posteriorLogVarianceClipped = new Float64Array(T);
    this.posteriorMeanCoef1 = new Float64Array(T);
    this.posteriorMeanCoef2 = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      const a = this.alphasCumprod[t];
      const aPrev = this.alphasCumprodPrev[t];
      this.posteriorVariance[t] = (this.betas[t] * (1 - aPrev)) / (1 - a);
      this.posteriorLogVarianceClipped[t] = Math.log(Math.max(this.posteriorVariance[t], 1e-20));
      this.posteriorMeanCoef1[t] = (this.betas[t] * Math.sqrt(aPrev)) / (1 - a);
      this.posteriorMeanCoef2[t] = ((1 - aPrev) * Math.sqrt(this.alphas[t])) / (1 - a);
    }
  }

  /** A schedule by name; see ScheduleOptions for the defaults. */
  static create(options: ScheduleOptions = {}): DiffusionSchedule {
    return new DiffusionSchedule(makeBetaSchedule(options));
  }

  /** Throws unless t is an integer timestep in [0, T). */
  checkTimestep(t: number, op: string): void {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) {
      throw new Error(`${op}: timestep ${t} is not an integer in [0, ${this.numTimesteps})`);
    }
  }
}
