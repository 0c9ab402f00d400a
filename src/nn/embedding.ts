// Lookup table of learned vectors, as in torch.nn.Embedding.
import { embedding } from '../tensor/ops/losses.js';
import { Generator, defaultGenerator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { checkPositiveInteger } from './check.js';
import { normal_ } from './init.js';
import { Module } from './module.js';

export interface EmbeddingOptions {
  /** Source of the initial weights (default: the global generator). */
  generator?: Generator;
}

/** Maps integer indices of any shape to rows of weight [numEmbeddings, embeddingDim], initialised N(0, 1). */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    { generator = defaultGenerator }: EmbeddingOptions = {},
  ) {
    super();
    checkPositiveInteger(numEmbeddings, 'Embedding', 'numEmbeddings');
    checkPositiveInteger(embeddingDim, 'Embedding', 'embeddingDim');
    this.weight = this.registerParameter(
      'weight',
      normal_(Tensor.zeros([numEmbeddings, embeddingDim]), 0, 1, generator),
    );
  }

  /** [...indices.shape] -> [...indices.shape, embeddingDim]. */
  forward(indices: Tensor | readonly number[]): Tensor {
    return embedding(this.weight, indices);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }
}
