// The optimizer base: parameter groups, per-parameter state, zeroGrad, and state save/load.
//
// Parameters are numbered 0..N-1 across groups in order, as in torch.optim state dicts; state
// is keyed by that index. Updates write `param.data` in place outside autograd (the one place,
// with loaders, where tensors are mutated: see tensor.ts). Buffers are allocated on a
// parameter's first update and reused afterwards, so steady-state steps allocate nothing.
import type { Tensor } from '../tensor/tensor.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';

/** A hyper-parameter value as it appears in a state dict (JSON-safe). */
export type HyperValue = number | boolean | readonly number[];

/** Hyper-parameters every optimizer has; subclasses add their own. */
export interface BaseHyperParams {
  lr: number;
  weightDecay: number;
}

/** Parameters as tensors, or as [name, tensor] pairs (e.g. a module's namedParameters()). */
export type ParamList = Iterable<Tensor> | Iterable<readonly [string, Tensor]>;

/** A group of parameters with its own hyper-parameters; missing ones take the optimizer's defaults. */
export type ParamGroupSpec<H> = { params: ParamList } & Partial<H>;

export type ParamsArg<H> = ParamList | Iterable<ParamGroupSpec<H>>;

/** A live parameter group: its hyper-parameters can be changed between steps (e.g. `lr`). */
export type ParamGroup<H> = H & {
  readonly params: readonly Tensor[];
  /** Parameter names when given as [name, tensor] pairs; checked on load. */
  readonly names: readonly string[] | null;
  /** The group's lr at construction: LR schedules scale it (torch's `initial_lr`). */
  initialLr: number;
};

/** Per-parameter state: the number of updates applied and named float32 buffers shaped like it. */
export interface ParamState {
  step: number;
  shape: number[];
  buffers: Record<string, Float32Array>;
}

export interface ParamGroupState {
  hyper: Record<string, HyperValue>;
  initialLr: number;
  /** Global indices of the group's parameters. */
  params: number[];
  names: string[] | null;
}

/** Plain-data optimizer state: round-trips through optimizerStateToTensors/FromTensors. */
export interface OptimizerStateDict {
  optimizer: string;
  paramGroups: ParamGroupState[];
  /** Keyed by global parameter index; parameters never updated have no entry. */
  state: Record<number, ParamState>;
}

export abstract class Optimizer<H extends BaseHyperParams> {
  readonly paramGroups: ParamGroup<H>[];
  /** State of parameter i (global index), null until its first update. */
  protected readonly state: (ParamState | null)[];
  /** Parameter i (global index) and the index of its group. */
  private readonly allParams: Tensor[] = [];
  private readonly groupOfParam: number[] = [];

  /** Hyper-parameters of groups that do not set their own. */
  readonly defaults: Readonly<H>;

  protected constructor(
    /** The optimizer's name in state dicts and errors, e.g. 'Adam'. */
    readonly name: string,
    params: ParamsArg<H>,
    builtinDefaults: H,
    options: Partial<H>,
  ) {
    this.defaults = withOptions(builtinDefaults, options, name);
    this.checkHyper(this.defaults, name);
    this.paramGroups = normalizeGroups(name, params).map((spec, g) => this.makeGroup(spec, g));
    this.paramGroups.forEach((group, g) => {
      for (const p of group.params) {
        if (this.allParams.includes(p)) {
          throw new Error(`${name}: a parameter appears more than once (shape ${formatShape(p.shape)})`);
        }
        this.allParams.push(p);
        this.groupOfParam.push(g);
      }
    });
    this.state = new Array<ParamState | null>(this.allParams.length).fill(null);
  }

  /** Validates a group's hyper-parameters; `where` names the optimizer and group for errors. */
  protected abstract checkHyper(hyper: H, where: string): void;

  /** Names of the buffers a parameter's state holds under these hyper-parameters. */
  protected abstract bufferNames(group: ParamGroup<H>): readonly string[];

  /** Applies one update to `param` in place; `state.step` already counts this update. */
  protected abstract update(param: Float32Array, grad: Float32Array, state: ParamState, group: ParamGroup<H>): void;

  /** One update of every parameter that has a gradient; parameters whose grad is null are skipped. */
  step(): void {
    let index = 0;
    for (let g = 0; g < this.paramGroups.length; g++) {
      const group = this.paramGroups[g];
      for (let i = 0; i < group.params.length; i++, index++) {
        const param = group.params[i];
        const grad = param.grad;
        if (grad === null) continue;
        if (!sameShape(grad.shape, param.shape)) {
          throw new Error(
            `${this.name}.step: parameter ${index} has shape ${formatShape(param.shape)} but its grad has shape ${formatShape(grad.shape)}`,
          );
        }
        let state = this.state[index];
        if (state === null) {
          state = { step: 0, shape: [...param.shape], buffers: this.newBuffers(group, param.data.length) };
          this.state[index] = state;
        }
        state.step += 1;
        this.update(param.data, grad.data, state, group);
      }
    }
  }

  /** Drops every parameter's gradient (sets it to null, like torch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  /** A deep copy of the state: later steps do not change it. */
  stateDict(): OptimizerStateDict {
    let index = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const params = group.params.map(() => index++);
      return { hyper: this.hyperOf(group), initialLr: group.initialLr, params, names: group.names && [...group.names] };
    });
    const state: Record<number, ParamState> = {};
    this.state.forEach((s, i) => {
      if (s === null) return;
      const buffers: Record<string, Float32Array> = {};
      for (const [key, buf] of Object.entries(s.buffers)) buffers[key] = buf.slice();
      state[i] = { step: s.step, shape: [...s.shape], buffers };
    });
    return { optimizer: this.name, paramGroups, state };
  }

  /**
   * Restores hyper-parameters and state saved by stateDict() from an optimizer over the same
   * parameters (same groups, counts, shapes and, where both have them, names). Everything is
   * validated before anything changes; buffers are copied.
   */
  loadStateDict(saved: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    if (saved.optimizer !== this.name) {
      throw new Error(`${where}: the state is from a ${saved.optimizer} optimizer, not ${this.name}`);
    }
    if (saved.paramGroups.length !== this.paramGroups.length) {
      throw new Error(
        `${where}: the state has ${saved.paramGroups.length} parameter groups, this optimizer has ${this.paramGroups.length}`,
      );
    }
    const hypers: H[] = [];
    let index = 0;
    saved.paramGroups.forEach((savedGroup, g) => {
      const group = this.paramGroups[g];
      if (savedGroup.params.length !== group.params.length) {
        throw new Error(
          `${where}: group ${g} has ${savedGroup.params.length} parameters in the state, ${group.params.length} here`,
        );
      }
      savedGroup.params.forEach((savedIndex, i) => {
        if (savedIndex !== index + i) {
          throw new Error(
            `${where}: group ${g} lists parameter index ${savedIndex} at position ${i}, expected ${index + i}`,
          );
        }
        const savedName = savedGroup.names?.[i];
        const name = group.names?.[i];
        if (savedName !== undefined && name !== undefined && savedName !== name) {
          throw new Error(`${where}: parameter ${index + i} is "${name}" here but "${savedName}" in the state`);
        }
      });
      index += group.params.length;
      const hyper = { ...this.defaults };
      const record = hyper as Record<string, HyperValue>;
      for (const key of Object.keys(this.defaults)) {
        const value = savedGroup.hyper[key];
        if (value === undefined) throw new Error(`${where}: group ${g} has no hyper-parameter "${key}"`);
        if (!sameKind(value, record[key])) {
          throw new Error(
            `${where}: group ${g} hyper-parameter "${key}" is ${JSON.stringify(value)}, of the wrong type`,
          );
        }
        record[key] = Array.isArray(value) ? [...value] : value;
      }
      for (const key of Object.keys(savedGroup.hyper)) {
        if (!(key in this.defaults)) throw new Error(`${where}: group ${g} has unknown hyper-parameter "${key}"`);
      }
      this.checkHyper(hyper, `${where} group ${g}`);
      if (!(Number.isFinite(savedGroup.initialLr) && savedGroup.initialLr >= 0)) {
        throw new Error(`${where}: group ${g} initialLr must be a finite number >= 0, got ${savedGroup.initialLr}`);
      }
      hypers.push(hyper);
    });

    const loaded = new Array<ParamState | null>(this.state.length).fill(null);
    for (const [key, s] of Object.entries(saved.state)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= loaded.length) {
        throw new Error(`${where}: state for parameter "${key}", but there are only ${loaded.length} parameters`);
      }
      const g = this.groupOfParam[i];
      const param = this.allParams[i];
      if (!shapesEqual(s.shape, param.shape)) {
        throw new Error(
          `${where}: parameter ${i} has shape ${formatShape(param.shape)} here, ${formatShape(s.shape)} in the state`,
        );
      }
      if (!(Number.isInteger(s.step) && s.step >= 1)) {
        throw new Error(`${where}: parameter ${i} has step ${s.step}; expected an integer >= 1`);
      }
      const expected = this.bufferNames({ ...this.paramGroups[g], ...hypers[g] })
        .slice()
        .sort();
      const got = Object.keys(s.buffers).sort();
      if (expected.join() !== got.join()) {
        throw new Error(`${where}: parameter ${i} has buffers [${got.join(', ')}], expected [${expected.join(', ')}]`);
      }
      const buffers: Record<string, Float32Array> = {};
      for (const name of expected) {
        const buf = s.buffers[name];
        if (!(buf instanceof Float32Array) || buf.length !== param.data.length) {
          const what = buf instanceof Float32Array ? `${buf.length} values` : typeof buf;
          throw new Error(
            `${where}: buffer "${name}" of parameter ${i} has ${what}, expected ${param.data.length} float32 values`,
          );
        }
        buffers[name] = buf.slice();
      }
      loaded[i] = { step: s.step, shape: [...s.shape], buffers };
    }

    this.paramGroups.forEach((group, g) => {
      Object.assign(group, hypers[g]);
      group.initialLr = saved.paramGroups[g].initialLr;
    });
    loaded.forEach((s, i) => (this.state[i] = s));
  }

  private newBuffers(group: ParamGroup<H>, size: number): Record<string, Float32Array> {
    const buffers: Record<string, Float32Array> = {};
    for (const name of this.bufferNames(group)) buffers[name] = new Float32Array(size);
    return buffers;
  }

  private hyperOf(group: ParamGroup<H>): Record<string, HyperValue> {
    const out: Record<string, HyperValue> = {};
    const record = group as unknown as Record<string, HyperValue>;
    for (const key of Object.keys(this.defaults)) {
      const value = record[key];
      out[key] = Array.isArray(value) ? [...value] : value;
    }
    return out;
  }

  private makeGroup(spec: ParamGroupSpec<H>, g: number): ParamGroup<H> {
    const where = `${this.name} group ${g}`;
    const { params, names } = splitParams(spec.params, where);
    const options: Record<string, unknown> = { ...spec };
    delete options.params;
    const hyper = withOptions(this.defaults, options as Partial<H>, where);
    this.checkHyper(hyper, where);
    return { ...hyper, params, names, initialLr: hyper.lr };
  }
}

/** `defaults` overridden by the options that are set; unknown keys are errors. Arrays are copied. */
function withOptions<H extends object>(defaults: H, options: Partial<H>, where: string): H {
  const out = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(options)) {
    if (!(key in defaults)) throw new Error(`${where}: unknown option "${key}"`);
    if (value !== undefined) out[key] = value;
  }
  for (const [key, value] of Object.entries(out)) if (Array.isArray(value)) out[key] = [...value];
  return out as H;
}

/** shapesEqual without a callback, for the per-step check. */
function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameKind(value: unknown, reference: HyperValue): boolean {
  if (Array.isArray(reference)) {
    return Array.isArray(value) && value.length === reference.length && value.every((v) => typeof v === 'number');
  }
  return typeof value === typeof reference;
}

function isGroupSpec(item: unknown): item is { params: ParamList } {
  return typeof item === 'object' && item !== null && !Array.isArray(item) && 'params' in item;
}

function normalizeGroups<H>(name: string, params: ParamsArg<H>): ParamGroupSpec<H>[] {
  const items = Array.from(params as Iterable<unknown>);
  if (items.length === 0) throw new Error(`${name}: got an empty parameter list`);
  if (items.every(isGroupSpec)) return items as ParamGroupSpec<H>[];
  if (items.some(isGroupSpec)) throw new Error(`${name}: mix of parameter groups and bare parameters`);
  return [{ params: items } as unknown as ParamGroupSpec<H>];
}

/** Tensors (and names, when given as pairs) of one group; rejects anything else. */
export function splitParams(list: ParamList, where: string): { params: Tensor[]; names: string[] | null } {
  const items = Array.from(list as Iterable<unknown>);
  if (items.length === 0) throw new Error(`${where}: got an empty parameter list`);
  const named = Array.isArray(items[0]);
  const params: Tensor[] = [];
  const names: string[] = [];
  items.forEach((item, i) => {
    const pair = Array.isArray(item) && item.length === 2 && typeof item[0] === 'string';
    const tensor = pair ? (item as [string, Tensor])[1] : item;
    if (pair !== named || !isTensorLike(tensor)) {
      throw new Error(`${where}: item ${i} is not a ${named ? '[name, Tensor] pair' : 'Tensor'}`);
    }
    if (pair) names.push((item as [string, Tensor])[0]);
    params.push(tensor);
  });
  return { params, names: named ? names : null };
}

function isTensorLike(x: unknown): x is Tensor {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as Tensor).data instanceof Float32Array &&
    Array.isArray((x as Tensor).shape)
  );
}

/** Throws unless `value` is a finite number >= 0. */
export function checkNonNegative(value: number, what: string, where: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`${where}: ${what} must be a finite number >= 0, got ${value}`);
  }
}
