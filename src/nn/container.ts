// Containers: Sequential (a chain of layers) and ModuleList (an indexed list of modules). Both
// register their children under the names 0, 1, 2, ..., as PyTorch does, so that state-dict keys
// like `encoder.down.0.block.1.norm1.weight` come out exactly.
import type { Tensor } from '../tensor/tensor.js';
import { Module, type TensorModule } from './module.js';

function indexIn(index: number, length: number, container: string): number {
  const i = index < 0 ? index + length : index;
  if (!Number.isInteger(i) || i < 0 || i >= length) {
    throw new Error(`${container}: index ${index} is out of range for ${length} modules`);
  }
  return i;
}

/** Applies its layers in order: forward(x) = layers[n-1](...layers[0](x)). */
export class Sequential extends Module {
  readonly #layers: TensorModule[] = [];

  constructor(...layers: TensorModule[]) {
    super();
    for (const layer of layers) this.append(layer);
  }

  append(layer: TensorModule): this {
    this.registerModule(String(this.#layers.length), layer);
    this.#layers.push(layer);
    return this;
  }

  get length(): number {
    return this.#layers.length;
  }

  /** The layer at `index` (negative counts from the end). */
  get(index: number): TensorModule {
    return this.#layers[indexIn(index, this.#layers.length, 'Sequential')];
  }

  [Symbol.iterator](): Iterator<TensorModule> {
    return this.#layers[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.#layers) y = layer.forward(y);
    return y;
  }
}

/** A list of modules whose parameters belong to the parent; it has no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly #items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const module of modules) this.append(module);
  }

  append(module: M): this {
    this.registerModule(String(this.#items.length), module);
    this.#items.push(module);
    return this;
  }

  get length(): number {
    return this.#items.length;
  }

  /** The module at `index` (negative counts from the end). */
  get(index: number): M {
    return this.#items[indexIn(index, this.#items.length, 'ModuleList')];
  }

  [Symbol.iterator](): Iterator<M> {
    return this.#items[Symbol.iterator]();
  }
}
