// Group and layer normalisation layers, as in torch.nn.GroupNorm / torch.nn.LayerNorm.
import { groupNorm, layerNorm } from '../tensor/ops/norm.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { checkPositive, checkPositiveInteger } from './check.js';
import { Module } from './module.js';

export interface GroupNormOptions {
  eps?: number;
  /** Learn a per-channel scale (init 1) and shift (init 0); default true. */
  affine?: boolean;
}

/** Normalises x [N, C, ...] over each group of C / numGroups channels (Wu & He, 2018). */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    { eps = 1e-5, affine = true }: GroupNormOptions = {},
  ) {
    super();
    checkPositiveInteger(numGroups, 'GroupNorm', 'numGroups');
    checkPositiveInteger(numChannels, 'GroupNorm', 'numChannels');
    checkPositive(eps, 'GroupNorm', 'eps');
    if (numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: numChannels ${numChannels} is not divisible by numGroups ${numGroups}`);
    }
    this.eps = eps;
    this.weight = affine ? this.registerParameter('weight', Tensor.ones([numChannels])) : null;
    this.bias = affine ? this.registerParameter('bias', Tensor.zeros([numChannels])) : null;
  }

  forward(x: Tensor): Tensor {
    if (x.rank < 2 || x.shape[1] !== this.numChannels) {
      throw new Error(`GroupNorm: expected input [N, ${this.numChannels}, ...], got ${formatShape(x.shape)}`);
    }
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${this.eps}, affine=${this.weight !== null}`;
  }
}

export interface LayerNormOptions {
  eps?: number;
  /** Learn an elementwise scale (init 1) and, unless bias is false, shift (init 0); default true. */
  elementwiseAffine?: boolean;
  bias?: boolean;
}

/** Normalises over the trailing axes given by normalizedShape (Ba et al., 2016). */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    normalizedShape: number | readonly number[],
    { eps = 1e-5, elementwiseAffine = true, bias = true }: LayerNormOptions = {},
  ) {
    super();
    this.normalizedShape = Object.freeze(
      typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape],
    );
    if (this.normalizedShape.length === 0) throw new Error('LayerNorm: normalizedShape must not be empty');
    this.normalizedShape.forEach((d) => checkPositiveInteger(d, 'LayerNorm', 'normalizedShape'));
    checkPositive(eps, 'LayerNorm', 'eps');
    this.eps = eps;
    this.weight = elementwiseAffine ? this.registerParameter('weight', Tensor.ones(this.normalizedShape)) : null;
    this.bias = elementwiseAffine && bias ? this.registerParameter('bias', Tensor.zeros(this.normalizedShape)) : null;
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${formatShape(this.normalizedShape)}, eps=${this.eps}, elementwiseAffine=${this.weight !== null}`;
  }
}
