// Exponential moving average of parameters, as the LDM code's LitEma (ldm/modules/ema.py):
//
//   n <- n + 1;  d = min(decay, (1 + n) / (10 + n))   (warm-up, when useNumUpdates)
//   shadow <- shadow - (1 - d) * (shadow - param)
//
// LitEma keeps `decay` as a float32 tensor, so its effective 1 - d is float32-rounded; we use
// the decay as given, in double.
import type { Tensor } from '../tensor/tensor.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import { splitParams, type ParamList } from './optimizer.js';

export interface EMAOptions {
  /** Default 0.9999 (LitEma's). */
  decay?: number;
  /** Warm the decay up as min(decay, (1 + n) / (10 + n)); default true, as in LitEma. */
  useNumUpdates?: boolean;
}

/** Plain-data EMA state: round-trips through emaStateToTensors/FromTensors. */
export interface EMAStateDict {
  decay: number;
  useNumUpdates: boolean;
  numUpdates: number;
  names: string[] | null;
  shapes: number[][];
  shadow: Float32Array[];
}

export class EMA {
  readonly decay: number;
  readonly useNumUpdates: boolean;
  /** Updates applied so far. */
  numUpdates = 0;
  /** Parameter names when given as [name, tensor] pairs. */
  readonly names: readonly string[] | null;
  private readonly params: readonly Tensor[];
  private readonly shadow: Float32Array[];
  /** The live weights saved by store(), allocated on first use and reused. */
  private stored: Float32Array[] | null = null;

  /** Starts the average at the parameters' current values. */
  constructor(params: ParamList, options: EMAOptions = {}) {
    const { params: list, names } = splitParams(params, 'EMA');
    this.decay = options.decay ?? 0.9999;
    this.useNumUpdates = options.useNumUpdates ?? true;
    if (!(typeof this.decay === 'number' && this.decay >= 0 && this.decay <= 1)) {
      throw new Error(`EMA: decay must lie in [0, 1], got ${this.decay}`);
    }
    this.params = list;
    this.names = names;
    this.shadow = list.map((p) => p.data.slice());
  }

  /** The decay the next update() will use. */
  nextDecay(): number {
    if (!this.useNumUpdates) return this.decay;
    const n = this.numUpdates + 1;
    return Math.min(this.decay, (1 + n) / (10 + n));
  }

  /** Moves the average toward the tracked parameters' current values. */
  update(): void {
    const oneMinusDecay = 1 - this.nextDecay();
    this.numUpdates += 1;
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k].data;
      const s = this.shadow[k];
      for (let i = 0; i < s.length; i++) s[i] -= oneMinusDecay * (s[i] - p[i]);
    }
  }

  /** Writes the averaged weights into `params` (default: the tracked parameters). */
  copyTo(params: readonly Tensor[] = this.params): void {
    this.checkTargets(params, 'copyTo');
    params.forEach((p, k) => p.data.set(this.shadow[k]));
  }

  /** Saves the current weights of `params` so that restore() can put them back. */
  store(params: readonly Tensor[] = this.params): void {
    this.checkTargets(params, 'store');
    if (this.stored === null) this.stored = params.map((p) => p.data.slice());
    else params.forEach((p, k) => this.stored![k].set(p.data));
  }

  /** Puts back the weights saved by the last store(). */
  restore(params: readonly Tensor[] = this.params): void {
    if (this.stored === null) throw new Error('EMA.restore: nothing stored; call store() first');
    this.checkTargets(params, 'restore');
    params.forEach((p, k) => p.data.set(this.stored![k]));
  }

  /** Runs fn with the averaged weights swapped into the tracked parameters (LDM's ema_scope). */
  withAveragedWeights<T>(fn: () => T): T {
    this.store();
    this.copyTo();
    try {
      return fn();
    } finally {
      this.restore();
    }
  }

  /** A deep copy of the state. */
  /** Runs fn with the averaged weights in the parameters, then puts the trained ones back. */
  withAveraged<T>(fn: () => T): T {
    this.store();
    this.copyTo();
    try {
      return fn();
    } finally {
      this.restore();
    }
  }

  stateDict(): EMAStateDict {
    return {
      decay: this.decay,
      useNumUpdates: this.useNumUpdates,
      numUpdates: this.numUpdates,
      names: this.names && [...this.names],
      shapes: this.params.map((p) => [...p.shape]),
      shadow: this.shadow.map((s) => s.slice()),
    };
  }

  /**
   * Restores the average and update count saved by stateDict() over the same parameters
   * (count, shapes and, where both have them, names). The decay settings are this EMA's own.
   */
  loadStateDict(saved: EMAStateDict): void {
    const where = 'EMA.loadStateDict';
    if (saved.shadow.length !== this.params.length || saved.shapes.length !== this.params.length) {
      throw new Error(`${where}: the state averages ${saved.shadow.length} parameters, this EMA ${this.params.length}`);
    }
    if (!(Number.isInteger(saved.numUpdates) && saved.numUpdates >= 0)) {
      throw new Error(`${where}: numUpdates must be an integer >= 0, got ${saved.numUpdates}`);
    }
    this.params.forEach((p, k) => {
      const savedName = saved.names?.[k];
      const name = this.names?.[k];
      if (savedName !== undefined && name !== undefined && savedName !== name) {
        throw new Error(`${where}: parameter ${k} is "${name}" here but "${savedName}" in the state`);
      }
      const what = name === undefined ? `parameter ${k}` : `parameter ${k} ("${name}")`;
      if (!shapesEqual(saved.shapes[k], p.shape)) {
        throw new Error(
          `${where}: ${what} has shape ${formatShape(p.shape)} here, ${formatShape(saved.shapes[k])} in the state`,
        );
      }
      const s = saved.shadow[k];
      if (!(s instanceof Float32Array) || s.length !== p.data.length) {
        throw new Error(`${where}: the average of ${what} must be a Float32Array of ${p.data.length} values`);
      }
    });
    saved.shadow.forEach((s, k) => this.shadow[k].set(s));
    this.numUpdates = saved.numUpdates;
  }

  private checkTargets(params: readonly Tensor[], op: string): void {
    if (params.length !== this.params.length) {
      throw new Error(`EMA.${op}: got ${params.length} parameters, the EMA tracks ${this.params.length}`);
    }
    params.forEach((p, k) => {
      if (p.data.length !== this.shadow[k].length) {
        throw new Error(
          `EMA.${op}: parameter ${k} has shape ${formatShape(p.shape)}, expected ${formatShape(this.params[k].shape)}`,
        );
      }
    });
  }
}
