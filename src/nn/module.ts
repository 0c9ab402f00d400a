// Module: the base of every layer and model (torch.nn.Module).
//
// A module owns named parameters, named buffers and named child modules, each registered
// explicitly (TypeScript has no __setattr__ hook). The registered names, joined with dots,
// are the state-dict keys, so they follow the checkpoint's spelling (`conv_in`, `norm1`,
// ModuleList indices `0`, `1`, ...) while the TypeScript properties may be camelCase:
//
//   this.convIn = this.registerModule('conv_in', new Conv2d(3, 128, 3, { padding: 1 }));
//
// Orders match PyTorch: a module's own parameters, then its own buffers, then its children,
// each in registration order, recursively.
import { formatShape, shapesEqual, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** A tensor as plain data; Tensor and the safetensors reader's TensorRecord both fit. */
export interface TensorData {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A state dict given to loadStateDict: a Map (e.g. from readSafetensors) or a plain record. */
export type StateDictInput = ReadonlyMap<string, TensorData> | Readonly<Record<string, TensorData>>;

export interface LoadStateDictOptions {
  /** When true (the default), missing or unexpected keys are an error. Wrong shapes always are. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/** A module whose forward maps one tensor to one tensor: what Sequential chains. */
export type TensorModule = Module & { forward(x: Tensor): Tensor };

export class Module {
  /** Training mode (dropout active, batch statistics); set recursively by train() and eval(). */
  training = true;

  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #nonPersistentBuffers = new Set<string>();
  readonly #modules = new Map<string, Module>();

  // ---- registration ----

  /** Registers a trainable tensor under `name` (marks it as requiring grad); returns it. */
  registerParameter<T extends Tensor>(name: string, parameter: T): T {
    this.#checkNewName(name, 'registerParameter');
    if (parameter.gradFn !== null) {
      throw new Error(
        `registerParameter: "${name}" must be a leaf tensor, not the result of "${parameter.gradFn.op}"; pass tensor.detach()`,
      );
    }
    parameter.requiresGrad = true;
    this.#parameters.set(name, parameter);
    return parameter;
  }

  /**
   * Registers state that is not trained (running statistics, for example). Persistent buffers
   * are part of the state dict; non-persistent ones are not.
   */
  registerBuffer<T extends Tensor>(name: string, buffer: T, { persistent = true } = {}): T {
    this.#checkNewName(name, 'registerBuffer');
    this.#buffers.set(name, buffer);
    if (!persistent) this.#nonPersistentBuffers.add(name);
    return buffer;
  }

  /** Registers a child module under `name`; its state-dict keys get the prefix `name.`. Returns it. */
  registerModule<M extends Module>(name: string, module: M): M {
    this.#checkNewName(name, 'registerModule');
    if (module.namedModules().some(([, m]) => m === this)) {
      throw new Error(`registerModule: "${name}" would make ${this.constructor.name} contain itself`);
    }
    this.#modules.set(name, module);
    return module;
  }

  #checkNewName(name: string, op: string): void {
    if (name === '' || name.includes('.')) {
      throw new Error(`${op}: name "${name}" must be non-empty and contain no "."`);
    }
    if (this.#parameters.has(name) || this.#buffers.has(name) || this.#modules.has(name)) {
      throw new Error(`${op}: ${this.constructor.name} already has a parameter, buffer or module named "${name}"`);
    }
  }

  // ---- traversal ----

  /** Direct children with their names. */
  namedChildren(): [string, Module][] {
    return [...this.#modules];
  }

  children(): Module[] {
    return [...this.#modules.values()];
  }

  /** This module (name '') and every descendant, pre-order, each module once even if shared. */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (module: Module, prefix: string): void => {
      if (seen.has(module)) return;
      seen.add(module);
      out.push([prefix, module]);
      for (const [name, child] of module.#modules) visit(child, prefix === '' ? name : `${prefix}.${name}`);
    };
    visit(this, '');
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Every parameter with its dotted name, each tensor once even if shared. */
  namedParameters(): [string, Tensor][] {
    return this.#collectUnique((m) => m.#parameters);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every buffer (persistent or not) with its dotted name. */
  namedBuffers(): [string, Tensor][] {
    return this.#collectUnique((m) => m.#buffers);
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  #collectUnique(own: (m: Module) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, module] of this.namedModules()) {
      for (const [name, tensor] of own(module)) {
        if (seen.has(tensor)) continue;
        seen.add(tensor);
        out.push([prefix === '' ? name : `${prefix}.${name}`, tensor]);
      }
    }
    return out;
  }

  /** Calls fn on every descendant, children before parents, then on this module (like torch's apply). */
  apply(fn: (module: Module) => void): this {
    for (const child of this.#modules.values()) child.apply(fn);
    fn(this);
    return this;
  }

  // ---- modes and gradients ----

  /** Sets training mode on this module and all descendants. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.#modules.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clears every parameter's gradient (sets it to null, like torch's set_to_none default). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Sets requiresGrad on every parameter; requiresGrad_(false) freezes the module. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /** Number of parameter elements (shared tensors counted once). */
  numParameters({ onlyTrainable = false } = {}): number {
    let n = 0;
    for (const p of this.parameters()) if (!onlyTrainable || p.requiresGrad) n += p.size;
    return n;
  }

  // ---- state dict ----

  /**
   * Parameters and persistent buffers by dotted name. The values share memory with the
   * module's tensors but are cut from autograd (like torch's state_dict()). A tensor shared by
   * two submodules appears under both names, as in PyTorch.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, tensor] of this.#stateEntries()) out.set(name, tensor.detach());
    return out;
  }

  /**
   * Copies values into this module's parameters and persistent buffers, in place. Everything is
   * checked first: on any problem one error lists every missing key, unexpected key and shape
   * mismatch, and nothing is copied. With strict false, missing and unexpected keys are returned
   * instead of thrown; shape mismatches still throw.
   */
  loadStateDict(stateDict: StateDictInput, { strict = true }: LoadStateDictOptions = {}): LoadStateDictResult {
    const own = this.#stateEntries();
    const given: ReadonlyMap<string, TensorData> =
      stateDict instanceof Map ? stateDict : new Map(Object.entries(stateDict as Record<string, TensorData>));
    const missing = [...own.keys()].filter((key) => !given.has(key));
    const unexpected = [...given.keys()].filter((key) => !own.has(key));
    const mismatched: string[] = [];
    for (const [key, target] of own) {
      const value = given.get(key);
      if (value === undefined) continue;
      if (!shapesEqual(value.shape, target.shape)) {
        mismatched.push(`${key}: checkpoint ${formatShape(value.shape)}, model ${formatShape(target.shape)}`);
      } else if (value.data.length !== sizeOf(value.shape)) {
        mismatched.push(`${key}: checkpoint has ${value.data.length} values for shape ${formatShape(value.shape)}`);
      }
    }
    if (mismatched.length > 0 || (strict && (missing.length > 0 || unexpected.length > 0))) {
      const lines = [`loadStateDict: cannot load state dict into ${this.constructor.name}; nothing was loaded.`];
      if (missing.length > 0) lines.push(`  missing keys (${missing.length}): ${missing.join(', ')}`);
      if (unexpected.length > 0) lines.push(`  unexpected keys (${unexpected.length}): ${unexpected.join(', ')}`);
      if (mismatched.length > 0)
        lines.push(`  shape mismatches (${mismatched.length}):`, ...mismatched.map((m) => `    ${m}`));
      throw new Error(lines.join('\n'));
    }
    for (const [key, target] of own) {
      const value = given.get(key);
      if (value !== undefined) target.data.set(value.data);
    }
    return { missing, unexpected };
  }

  /** The module's own tensors behind the state dict, in state-dict order. */
  #stateEntries(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const visit = (module: Module, prefix: string): void => {
      for (const [name, p] of module.#parameters) out.set(prefix + name, p);
      for (const [name, b] of module.#buffers) {
        if (!module.#nonPersistentBuffers.has(name)) out.set(prefix + name, b);
      }
      for (const [name, child] of module.#modules) visit(child, `${prefix}${name}.`);
    };
    visit(this, '');
    return out;
  }

  // ---- printing ----

  /** The layer's settings, shown by toString (e.g. "3, 16, kernelSize=[3, 3]"). */
  extraRepr(): string {
    return '';
  }

  /** A tree of the module and its children, like printing a torch module. */
  toString(): string {
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (this.#modules.size === 0) return `${head})`;
    const lines = [...this.#modules].map(([name, m]) => `  (${name}): ${m.toString().replaceAll('\n', '\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}
