// Linear (fully connected) layer and Identity, as in torch.nn.Linear / torch.nn.Identity.
import { linear } from '../tensor/ops/linalg.js';
import { Generator, defaultGenerator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { checkPositiveInteger } from './check.js';
import { kaimingUniform_, uniform_ } from './init.js';
import { Module } from './module.js';

export interface LinearOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
  /** Source of the initial weights (default: the global generator). */
  generator?: Generator;
}

/** y = x W^T + b for x [..., inFeatures]; weight [outFeatures, inFeatures], bias [outFeatures]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true, generator = defaultGenerator }: LinearOptions = {},
  ) {
    super();
    checkPositiveInteger(inFeatures, 'Linear', 'inFeatures');
    checkPositiveInteger(outFeatures, 'Linear', 'outFeatures');
    this.weight = this.registerParameter('weight', Tensor.zeros([outFeatures, inFeatures]));
    this.bias = bias ? this.registerParameter('bias', Tensor.zeros([outFeatures])) : null;
    this.resetParameters(generator);
  }

  /** PyTorch's default: weight and bias both U(-1/sqrt(inFeatures), 1/sqrt(inFeatures)). */
  resetParameters(generator: Generator = defaultGenerator): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias !== null) {
      const bound = 1 / Math.sqrt(this.inFeatures);
      uniform_(this.bias, -bound, bound, generator);
    }
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

/** Returns its input unchanged; a placeholder where a config turns a layer off. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
