// What every sampler shares: the denoiser's type, the per-step callback, the model call that
// yields {eps, x0}, the DDIM timestep grid, and a fused linear combination of tensors.
//
// Memory: a sampler holds only the current x_t and the few predictions its update needs
// (PLMS three past eps, DPM-Solver++ one past x0); each step's other tensors become garbage
// when the step ends. Sampling never records gradients.
import { formatShape, shapesEqual } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { predictEpsAndX0, type Parameterization } from './forward.js';
import type { DiffusionSchedule } from './schedule.js';

/** A network as samplers see it: x_t [N, ...] at integer timestep t (0..T-1, the whole batch) -> model output. */
export type DenoiseFn = (x: Tensor, t: number) => Tensor;

/** Reported after each step: `step` counts from 0 to totalSteps - 1; `x` is the new sample, `t` the model's timestep. */
export interface SamplerStep {
  step: number;
  totalSteps: number;
  t: number;
  x: Tensor;
  predX0: Tensor;
}

export type SamplerCallback = (step: SamplerStep) => void;

/** Options every sampler takes. */
export interface PredictionOptions {
  /** What the network predicts; default 'eps'. */
  parameterization?: Parameterization;
  /** Clamp the predicted x0 to [-clipX0, clipX0] (eps is then re-derived from it); off by default. */
  clipX0?: number;
  callback?: SamplerCallback;
}

/** Steps of DDIM, PLMS and DPM-Solver++ when none are given. */
export const DEFAULT_SAMPLING_STEPS = 50;

/**
 * sum_k coefficient_k * tensor_k over same-shaped tensors, in one output buffer with float64
 * arithmetic (rounded to float32 once for up to four terms, once per further term beyond).
 * No autograd: for sampler updates only.
 */
export function linearCombination(terms: readonly (readonly [number, Tensor])[]): Tensor {
  if (terms.length === 0) throw new Error('linearCombination: no terms');
  const shape = terms[0][1].shape;
  for (const [, tensor] of terms) {
    if (!shapesEqual(tensor.shape, shape)) {
      throw new Error(`linearCombination: shapes ${formatShape(shape)} and ${formatShape(tensor.shape)} differ`);
    }
  }
  const out = new Float32Array(terms[0][1].size);
  // One monomorphic loop per term count (the samplers use 2 to 4): V8 runs these about twice
  // as fast as a loop over the terms.
  const head = terms.slice(0, 4);
  const c = head.map(([coefficient]) => coefficient);
  const s = head.map(([, tensor]) => tensor.data);
  if (head.length === 1) combine1(out, c[0], s[0]);
  else if (head.length === 2) combine2(out, c[0], s[0], c[1], s[1]);
  else if (head.length === 3) combine3(out, c[0], s[0], c[1], s[1], c[2], s[2]);
  else combine4(out, c[0], s[0], c[1], s[1], c[2], s[2], c[3], s[3]);
  for (const [coefficient, tensor] of terms.slice(4)) {
    const source = tensor.data;
    for (let i = 0; i < out.length; i++) out[i] += coefficient * source[i];
  }
  return new Tensor(out, shape);
}

type F32 = Float32Array;

function combine1(out: F32, c0: number, s0: F32): void {
  for (let i = 0; i < out.length; i++) out[i] = c0 * s0[i];
}

function combine2(out: F32, c0: number, s0: F32, c1: number, s1: F32): void {
  for (let i = 0; i < out.length; i++) out[i] = c0 * s0[i] + c1 * s1[i];
}

function combine3(out: F32, c0: number, s0: F32, c1: number, s1: F32, c2: number, s2: F32): void {
  for (let i = 0; i < out.length; i++) out[i] = c0 * s0[i] + c1 * s1[i] + c2 * s2[i];
}

function combine4(out: F32, c0: number, s0: F32, c1: number, s1: F32, c2: number, s2: F32, c3: number, s3: F32): void {
  for (let i = 0; i < out.length; i++) out[i] = c0 * s0[i] + c1 * s1[i] + c2 * s2[i] + c3 * s3[i];
}

/** Calls the denoiser at (x, t) and returns its prediction as {eps, x0}, with x0 clamped if asked. */
export function predictDenoised(
  schedule: DiffusionSchedule,
  denoise: DenoiseFn,
  x: Tensor,
  t: number,
  options: PredictionOptions,
): { eps: Tensor; x0: Tensor } {
  const output = denoise(x, t);
  if (!shapesEqual(output.shape, x.shape)) {
    throw new Error(
      `sampler: the denoiser returned shape ${formatShape(output.shape)} for input ${formatShape(x.shape)} at t=${t}`,
    );
  }
  return clampPrediction(
    schedule,
    x,
    t,
    predictEpsAndX0(schedule, options.parameterization ?? 'eps', x, t, output),
    options.clipX0,
  );
}

/** Clamps x0 to [-clipX0, clipX0] and re-derives eps from it, so the pair stays consistent with x_t. */
export function clampPrediction(
  schedule: DiffusionSchedule,
  x: Tensor,
  t: number,
  prediction: { eps: Tensor; x0: Tensor },
  clipX0: number | undefined,
): { eps: Tensor; x0: Tensor } {
  if (clipX0 === undefined) return prediction;
  const x0 = prediction.x0.clamp(-clipX0, clipX0);
  // eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)
  const sqrtOneMinusA = schedule.sqrtOneMinusAlphasCumprod[t];
  const eps = linearCombination([
    [1 / sqrtOneMinusA, x],
    [-schedule.sqrtAlphasCumprod[t] / sqrtOneMinusA, x0],
  ]);
  return { eps, x0 };
}

export function checkClipX0(clipX0: number | undefined, op: string): void {
  if (clipX0 !== undefined && !(clipX0 > 0)) throw new Error(`${op}: clipX0 must be positive, got ${clipX0}`);
}

/**
 * The timesteps of CompVis make_ddim_timesteps, 'uniform' discretisation, ascending:
 * range(0, T, T // S) + 1. The + 1 would reach T when T - 1 is on the grid (S = T, or T = 1000
 * with S = 3), which CompVis cannot index; there the grid is used without the offset.
 * T // S rounds down, so the grid has ceil(T / (T // S)) points: S of them when S divides T.
 */
export function ddimTimesteps(numTimesteps: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > numTimesteps) {
    throw new Error(`ddimTimesteps: steps must be an integer in [1, ${numTimesteps}], got ${steps}`);
  }
  const stride = Math.floor(numTimesteps / steps);
  const grid: number[] = [];
  for (let t = 0; t < numTimesteps; t += stride) grid.push(t);
  const offset = grid[grid.length - 1] + 1 < numTimesteps ? 1 : 0;
  return grid.map((t) => t + offset);
}

/** The path a DDIM-like sampler takes, in sampling order (t descending). */
export interface SamplingPlan {
  /** Model timesteps, descending. */
  timesteps: number[];
  /** abar at each timestep. */
  alphaBar: number[];
  /**
   * abar after each step: that of the next timestep, and for the last step abar_{t-1} of the
   * smallest timestep (abar_0 when it is 1, as CompVis ddim_alphas_prev; 1 when it is 0).
   */
  alphaBarPrev: number[];
}

export function samplingPlan(schedule: DiffusionSchedule, steps: number): SamplingPlan {
  const timesteps = ddimTimesteps(schedule.numTimesteps, steps).reverse();
  const alphaBar = timesteps.map((t) => schedule.alphasCumprod[t]);
  const last = timesteps[timesteps.length - 1];
  const alphaBarPrev = [...alphaBar.slice(1), schedule.alphasCumprodPrev[last]];
  return { timesteps, alphaBar, alphaBarPrev };
}
