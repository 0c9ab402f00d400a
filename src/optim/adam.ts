// Adam (Kingma & Ba, 2015, Algorithm 1) and AdamW (Loshchilov & Hutter, 2019), with
// torch.optim's exact update order:
//
//   Adam:  g <- g + wd * p                        (L2 penalty folded into the gradient)
//   AdamW: p <- p * (1 - lr * wd)                 (decoupled decay, before the Adam step)
//   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
//   vmax <- max(vmax, v)                          (amsgrad only; used in place of v below)
//   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//
// The common case (no L2 term, no amsgrad) is the backend's adamStep: float32 arithmetic on the
// native backend, as torch.optim's CPU kernel, and double rounded to float32 where it is stored
// on the js backend; the general case runs here, in double.
import type { AdamStepParams } from '../tensor/backend.js';
import { getBackend } from '../tensor/device.js';
import {
  Optimizer,
  checkNonNegative,
  type BaseHyperParams,
  type ParamGroup,
  type ParamsArg,
  type ParamState,
} from './optimizer.js';

export interface AdamOptions extends BaseHyperParams {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
}

const ADAM_DEFAULTS: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false };
/** AdamW's default weight decay is torch's 1e-2. */
const ADAMW_DEFAULTS: AdamOptions = { ...ADAM_DEFAULTS, weightDecay: 1e-2 };

/** The shared Adam machinery; `decoupled` picks AdamW's weight decay over Adam's L2 penalty. */
abstract class AdamBase extends Optimizer<AdamOptions> {
  protected constructor(
    name: string,
    params: ParamsArg<AdamOptions>,
    defaults: AdamOptions,
    options: Partial<AdamOptions>,
    private readonly decoupled: boolean,
  ) {
    super(name, params, defaults, options);
  }

  protected override checkHyper(h: AdamOptions, where: string): void {
    checkNonNegative(h.lr, 'lr', where);
    checkNonNegative(h.eps, 'eps', where);
    checkNonNegative(h.weightDecay, 'weightDecay', where);
    if (!Array.isArray(h.betas) || h.betas.length !== 2) throw new Error(`${where}: betas must be [beta1, beta2]`);
    for (const beta of h.betas) {
      if (!(typeof beta === 'number' && beta >= 0 && beta < 1)) {
        throw new Error(`${where}: betas must lie in [0, 1), got [${h.betas.join(', ')}]`);
      }
    }
    if (typeof h.amsgrad !== 'boolean') throw new Error(`${where}: amsgrad must be a boolean`);
  }

  protected override bufferNames(group: ParamGroup<AdamOptions>): readonly string[] {
    return group.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
  }

  protected override update(
    param: Float32Array,
    grad: Float32Array,
    state: ParamState,
    group: ParamGroup<AdamOptions>,
  ): void {
    adamUpdate(param, grad, state, group, this.decoupled);
  }
}

export class Adam extends AdamBase {
  constructor(params: ParamsArg<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('Adam', params, ADAM_DEFAULTS, options, false);
  }
}

/** Adam with decoupled weight decay. */
export class AdamW extends AdamBase {
  constructor(params: ParamsArg<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('AdamW', params, ADAMW_DEFAULTS, options, true);
  }
}

const stepParams: AdamStepParams = { beta1: 0, beta2: 0, eps: 0, keep: 1, stepSize: 0, biasCorrection2Sqrt: 1 };

function adamUpdate(
  param: Float32Array,
  grad: Float32Array,
  state: ParamState,
  group: AdamOptions,
  decoupled: boolean,
): void {
  const { lr, eps, weightDecay } = group;
  const beta1 = group.betas[0];
  const beta2 = group.betas[1];
  const { exp_avg: expAvg, exp_avg_sq: expAvgSq } = state.buffers;
  // amsgrad: the running maximum replaces v in the denominator. It starts at zero, also when
  // amsgrad is switched on mid-run.
  if (group.amsgrad && state.buffers.max_exp_avg_sq === undefined) {
    state.buffers.max_exp_avg_sq = new Float32Array(param.length);
  }
  const maxExpAvgSq = group.amsgrad ? state.buffers.max_exp_avg_sq : null;
  const l2 = decoupled ? 0 : weightDecay;
  // AdamW's decay factor; 1 (an exact no-op) for Adam.
  const keep = decoupled ? 1 - lr * weightDecay : 1;
  const stepSize = lr / (1 - beta1 ** state.step);
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** state.step);
  if (l2 === 0 && maxExpAvgSq === null) {
    // The common case runs as a backend kernel (native: vectorised, on all threads). The record
    // is reused: V8 does not reliably elide a fresh literal here (in the full test suite the
    // optimizer allocation test saw 306 KB over 1000 steps), and that is steady-state garbage.
    stepParams.beta1 = beta1;
    stepParams.beta2 = beta2;
    stepParams.eps = eps;
    stepParams.keep = keep;
    stepParams.stepSize = stepSize;
    stepParams.biasCorrection2Sqrt = biasCorrection2Sqrt;
    getBackend().adamStep(param, grad, expAvg, expAvgSq, stepParams);
  } else {
    adamStepGeneral(
      param,
      grad,
      expAvg,
      expAvgSq,
      maxExpAvgSq,
      l2,
      beta1,
      beta2,
      eps,
      keep,
      stepSize,
      biasCorrection2Sqrt,
    );
  }
}

// The general loop lives in a function of its own so that V8 optimizes it with its own type
// feedback (see sgd.ts). m and v are rounded to float32 as they are stored, and the update
// uses the rounded values, as in the backends' adamStep.

/** With an L2 term (Adam) or amsgrad. */
function adamStepGeneral(
  param: Float32Array,
  grad: Float32Array,
  expAvg: Float32Array,
  expAvgSq: Float32Array,
  maxExpAvgSq: Float32Array | null,
  l2: number,
  beta1: number,
  beta2: number,
  eps: number,
  keep: number,
  stepSize: number,
  biasCorrection2Sqrt: number,
): void {
  for (let i = 0; i < param.length; i++) {
    // Only add the L2 term when asked: 0 * p would turn an infinite p into NaN.
    const g = l2 !== 0 ? grad[i] + l2 * param[i] : grad[i];
    const m = Math.fround(beta1 * expAvg[i] + (1 - beta1) * g);
    let v = Math.fround(beta2 * expAvgSq[i] + (1 - beta2) * g * g);
    expAvg[i] = m;
    expAvgSq[i] = v;
    if (maxExpAvgSq !== null) {
      if (!(v <= maxExpAvgSq[i])) maxExpAvgSq[i] = v; // a NaN propagates, as in torch.maximum
      v = maxExpAvgSq[i];
    }
    param[i] = Math.fround(param[i] * keep) - (stepSize * m) / (Math.sqrt(v) / biasCorrection2Sqrt + eps);
  }
}
