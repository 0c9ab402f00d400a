// Stochastic gradient descent with momentum, in torch.optim.SGD's exact form:
//
//   d <- g + wd * p
//   b <- d                              (first update: the buffer starts as a copy of d)
//   b <- mu * b + (1 - dampening) * d   (later updates)
//   d <- d + mu * b  (nesterov)  or  d <- b
//   p <- p - lr * d
//
// Note this is not Sutskever et al.'s form (lr inside the buffer); it is PyTorch's.
import {
  Optimizer,
  checkNonNegative,
  type BaseHyperParams,
  type ParamGroup,
  type ParamsArg,
  type ParamState,
} from './optimizer.js';

export interface SGDOptions extends BaseHyperParams {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

const SGD_DEFAULTS: SGDOptions = { lr: 1e-3, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 };

export class SGD extends Optimizer<SGDOptions> {
  /** `lr` has no meaningful default in PyTorch; ours is 1e-3 like Adam's. */
  constructor(params: ParamsArg<SGDOptions>, options: Partial<SGDOptions> = {}) {
    super('SGD', params, SGD_DEFAULTS, options);
  }

  protected override checkHyper(h: SGDOptions, where: string): void {
    checkNonNegative(h.lr, 'lr', where);
    checkNonNegative(h.momentum, 'momentum', where);
    checkNonNegative(h.weightDecay, 'weightDecay', where);
    if (typeof h.dampening !== 'number' || !Number.isFinite(h.dampening)) {
      throw new Error(`${where}: dampening must be a finite number, got ${h.dampening}`);
    }
    if (typeof h.nesterov !== 'boolean') throw new Error(`${where}: nesterov must be a boolean`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      throw new Error(`${where}: nesterov momentum requires momentum > 0 and dampening 0`);
    }
  }

  protected override bufferNames(group: ParamGroup<SGDOptions>): readonly string[] {
    return group.momentum !== 0 ? ['momentum_buffer'] : [];
  }

  protected override update(
    param: Float32Array,
    grad: Float32Array,
    state: ParamState,
    group: ParamGroup<SGDOptions>,
  ): void {
    const { lr, weightDecay, momentum, nesterov } = group;
    if (momentum === 0) {
      sgdStep(param, grad, lr, weightDecay);
      return;
    }
    // The buffer starts as a copy of d on its first use (torch: buffer is None): the first
    // update, or a later one if momentum was switched on mid-run.
    const missing = state.buffers.momentum_buffer === undefined;
    if (missing) state.buffers.momentum_buffer = new Float32Array(param.length);
    const buffer = state.buffers.momentum_buffer;
    if (missing || state.step === 1) sgdMomentumStart(param, grad, buffer, lr, weightDecay, momentum, nesterov);
    else sgdMomentumStep(param, grad, buffer, lr, weightDecay, momentum, 1 - group.dampening, nesterov);
  }
}

// The loops live in small functions of their own: V8 optimizes each with its own type
// feedback. One function holding both the first-update and the later-update loops was
// deoptimized when the second loop began to run and stayed several times slower.

function sgdStep(param: Float32Array, grad: Float32Array, lr: number, weightDecay: number): void {
  for (let i = 0; i < param.length; i++) {
    const d = weightDecay !== 0 ? grad[i] + weightDecay * param[i] : grad[i];
    param[i] -= lr * d;
  }
}

function sgdMomentumStart(
  param: Float32Array,
  grad: Float32Array,
  buffer: Float32Array,
  lr: number,
  weightDecay: number,
  momentum: number,
  nesterov: boolean,
): void {
  for (let i = 0; i < param.length; i++) {
    const d = Math.fround(weightDecay !== 0 ? grad[i] + weightDecay * param[i] : grad[i]);
    buffer[i] = d;
    param[i] -= lr * (nesterov ? d + momentum * d : d);
  }
}

function sgdMomentumStep(
  param: Float32Array,
  grad: Float32Array,
  buffer: Float32Array,
  lr: number,
  weightDecay: number,
  momentum: number,
  keep: number,
  nesterov: boolean,
): void {
  for (let i = 0; i < param.length; i++) {
    const d = weightDecay !== 0 ? grad[i] + weightDecay * param[i] : grad[i];
    const b = Math.fround(momentum * buffer[i] + keep * d);
    buffer[i] = b;
    param[i] -= lr * (nesterov ? d + momentum * b : b);
  }
}
