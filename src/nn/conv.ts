// 2-D convolution layer, as in torch.nn.Conv2d.
import { conv2d, type Conv2dOptions } from '../tensor/ops/conv.js';
import { Generator, defaultGenerator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { checkPositiveInteger } from './check.js';
import { fanInAndFanOut, kaimingUniform_, uniform_ } from './init.js';
import { Module } from './module.js';

export interface Conv2dLayerOptions extends Conv2dOptions {
  /** Learn an additive per-channel bias (default true). */
  bias?: boolean;
  /** Source of the initial weights (default: the global generator). */
  generator?: Generator;
}

/**
 * Convolution of x [N, inChannels, H, W] with weight [outChannels, inChannels / groups, kh, kw].
 * Padding may be one number, [h, w], or asymmetric [top, bottom, left, right] (an extension of
 * torch's Conv2d, which needs a separate F.pad for that).
 */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: [number, number];
  readonly options: Readonly<Conv2dOptions>;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    { bias = true, generator = defaultGenerator, ...convOptions }: Conv2dLayerOptions = {},
  ) {
    super();
    checkPositiveInteger(inChannels, 'Conv2d', 'inChannels');
    checkPositiveInteger(outChannels, 'Conv2d', 'outChannels');
    this.kernelSize = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : [kernelSize[0], kernelSize[1]];
    this.kernelSize.forEach((k) => checkPositiveInteger(k, 'Conv2d', 'kernelSize'));
    const groups = convOptions.groups ?? 1;
    checkPositiveInteger(groups, 'Conv2d', 'groups');
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `Conv2d: inChannels ${inChannels} and outChannels ${outChannels} must both be divisible by groups ${groups}`,
      );
    }
    this.options = convOptions;
    this.weight = this.registerParameter(
      'weight',
      Tensor.zeros([outChannels, inChannels / groups, ...this.kernelSize]),
    );
    this.bias = bias ? this.registerParameter('bias', Tensor.zeros([outChannels])) : null;
    this.resetParameters(generator);
  }

  /** PyTorch's default: weight and bias both U(-1/sqrt(fanIn), 1/sqrt(fanIn)), fanIn = in / groups * kh * kw. */
  resetParameters(generator: Generator = defaultGenerator): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias !== null) {
      const bound = 1 / Math.sqrt(fanInAndFanOut(this.weight)[0]);
      uniform_(this.bias, -bound, bound, generator);
    }
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }

  override extraRepr(): string {
    const settings = Object.entries(this.options)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `, ${key}=${JSON.stringify(value)}`);
    return `${this.inChannels}, ${this.outChannels}, kernelSize=${JSON.stringify(this.kernelSize)}${settings.join('')}, bias=${this.bias !== null}`;
  }
}
