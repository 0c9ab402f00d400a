// Dropout (Srivastava et al., 2014), as in torch.nn.Dropout.
import { dropout } from '../tensor/ops/losses.js';
import { Generator, defaultGenerator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export interface DropoutOptions {
  /** Source of the masks (default: the global generator); a seeded one makes training repeatable. */
  generator?: Generator;
}

/** In training, zeroes each element with probability p and scales the rest by 1 / (1 - p); identity in eval. */
export class Dropout extends Module {
  readonly generator: Generator;

  constructor(
    readonly p = 0.5,
    { generator = defaultGenerator }: DropoutOptions = {},
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
    this.generator = generator;
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}
