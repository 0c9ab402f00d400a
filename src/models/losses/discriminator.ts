// The PatchGAN discriminator of pix2pix (Isola et al., "Image-to-Image Translation with
// Conditional Adversarial Networks", CVPR 2017), as the taming-transformers / LDM first-stage
// losses use it: every output logit judges one overlapping patch of the input.
//
// Layers, with the Sequential indices that make the state-dict keys (`main.0.weight`, ...):
//   0 conv 4x4 stride 2 (bias), 1 LeakyReLU
//   then for n = 1 .. nLayers-1: conv 4x4 stride 2 (no bias), BatchNorm, LeakyReLU
//   then conv 4x4 stride 1 (no bias), BatchNorm, LeakyReLU
//   then conv 4x4 stride 1 to one channel (bias).
// Channels go ndf * min(2^n, 8). With nLayers 3: main.{0,2,5,8,11} are convs, main.{3,6,9} BatchNorms.
import { BatchNorm2d } from '../../nn/batchnorm.js';
import { Sequential } from '../../nn/container.js';
import { Conv2d } from '../../nn/conv.js';
import { LeakyReLU } from '../../nn/activation.js';
import { constant_, normal_ } from '../../nn/init.js';
import { Module } from '../../nn/module.js';
import { Generator, defaultGenerator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface NLayerDiscriminatorOptions {
  /** Input channels (3 for RGB; more when a condition is concatenated). Default 3. */
  inputNc?: number;
  /** Channels of the first conv. Default 64. */
  ndf?: number;
  /** Number of stride-2 convs. Default 3. */
  nLayers?: number;
  /** Source of the initial weights (default: the global generator). */
  generator?: Generator;
}

const KERNEL = 4;
const PADDING = 1;
const NEGATIVE_SLOPE = 0.2;

export class NLayerDiscriminator extends Module {
  readonly main: Sequential;
  readonly inputNc: number;

  constructor({ inputNc = 3, ndf = 64, nLayers = 3, generator = defaultGenerator }: NLayerDiscriminatorOptions = {}) {
    super();
    for (const [name, value] of Object.entries({ inputNc, ndf, nLayers })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`NLayerDiscriminator: ${name} must be a positive integer, got ${value}`);
      }
    }
    this.inputNc = inputNc;
    const conv = (cin: number, cout: number, stride: number, bias: boolean): Conv2d =>
      new Conv2d(cin, cout, KERNEL, { stride, padding: PADDING, bias, generator });
    // Convs followed by BatchNorm carry no bias: BatchNorm's shift would cancel it.
    const main = new Sequential(conv(inputNc, ndf, 2, true), new LeakyReLU(NEGATIVE_SLOPE));
    let mult = 1;
    for (let n = 1; n < nLayers; n++) {
      const previous = mult;
      mult = Math.min(2 ** n, 8);
      main.append(conv(ndf * previous, ndf * mult, 2, false));
      main.append(new BatchNorm2d(ndf * mult));
      main.append(new LeakyReLU(NEGATIVE_SLOPE));
    }
    const previous = mult;
    mult = Math.min(2 ** nLayers, 8);
    main.append(conv(ndf * previous, ndf * mult, 1, false));
    main.append(new BatchNorm2d(ndf * mult));
    main.append(new LeakyReLU(NEGATIVE_SLOPE));
    main.append(conv(ndf * mult, 1, 1, true));
    this.main = this.registerModule('main', main);
    this.apply((m) => weightsInit(m, generator));
  }

  /** Patch logits [N, 1, h, w] for images [N, inputNc, H, W]. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.inputNc) {
      throw new Error(`NLayerDiscriminator: expected input [N, ${this.inputNc}, H, W], got ${formatShape(x.shape)}`);
    }
    return this.main.forward(x);
  }
}

/**
 * DCGAN initialisation (Radford et al., 2016), the original's `weights_init`: conv weights
 * N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0. Conv biases keep PyTorch's default init.
 */
export function weightsInit(module: Module, generator: Generator = defaultGenerator): void {
  if (module instanceof Conv2d) {
    normal_(module.weight, 0, 0.02, generator);
  } else if (module instanceof BatchNorm2d) {
    if (module.weight !== null) normal_(module.weight, 1, 0.02, generator);
    if (module.bias !== null) constant_(module.bias, 0);
  }
}
