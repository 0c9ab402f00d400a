// Activation layers: module forms of the elementwise nonlinearities, so that they can sit in a
// Sequential and keep its indices aligned with PyTorch's (e.g. `time_embed.0`, SiLU, `time_embed.2`).
import { gelu, leakyRelu, relu, silu } from '../tensor/ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** x * sigmoid(x) (also called swish). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** x * Phi(x) with the exact erf form of the normal CDF (torch's approximate='none'). */
export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return gelu(x);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** x for x >= 0, negativeSlope * x otherwise. */
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }

  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }

  override extraRepr(): string {
    return `negativeSlope=${this.negativeSlope}`;
  }
}
