// LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
// Metric", CVPR 2018), VGG16 variant, as the LDM first-stage loss uses it: both images pass a
// fixed scaling layer and VGG16's conv1_2, conv2_2, conv3_3, conv4_3 and conv5_3 ReLU outputs;
// each feature map is normalised to unit length over channels; the squared differences are
// weighted per channel by a learned non-negative 1x1 conv (`lin`), averaged over positions and
// summed over the five layers.
//
// Parameter names follow the original LPIPS module, so a `loss.perceptual_loss.*` block of a
// CompVis checkpoint loads as it is: `scaling_layer.{shift,scale}`, `net.slice{1..5}.{i}.{weight,bias}`
// with i the conv's index in torchvision's `vgg16().features`, and `lin{0..4}.model.1.weight`.
// No pretrained weights ship with this package: load them with LPIPS.fromFile (key names and how
// to make the file: docs/decisions/004-perceptual-loss.md).
import { Conv2d } from '../../nn/conv.js';
import { Module, type TensorData } from '../../nn/module.js';
import { SafetensorsFile } from '../../io/safetensors.js';
import { conv2d } from '../../tensor/ops/conv.js';
import { add, div, mul, relu, sqrt, sub } from '../../tensor/ops/elementwise.js';
import { max, mean, sum } from '../../tensor/ops/reduce.js';
import { formatShape, shapesEqual } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

/** The scaling layer's constants: (x - shift) / scale maps [-1, 1] images to ImageNet statistics. */
export const LPIPS_SHIFT = [-0.03, -0.088, -0.188] as const;
export const LPIPS_SCALE = [0.458, 0.448, 0.45] as const;

/**
 * VGG16's convolutions up to conv5_3 as [torchvision features index, in, out], grouped in the
 * five LPIPS slices; each slice after the first starts with a 2x2 max pool.
 */
const VGG16_SLICES: readonly (readonly [number, number, number])[][] = [
  [
    [0, 3, 64],
    [2, 64, 64],
  ],
  [
    [5, 64, 128],
    [7, 128, 128],
  ],
  [
    [10, 128, 256],
    [12, 256, 256],
    [14, 256, 256],
  ],
  [
    [17, 256, 512],
    [19, 512, 512],
    [21, 512, 512],
  ],
  [
    [24, 512, 512],
    [26, 512, 512],
    [28, 512, 512],
  ],
];

/** Channels of the five compared feature maps. */
export const LPIPS_CHANNELS = VGG16_SLICES.map((convs) => convs[convs.length - 1][2]);

class ScalingLayer extends Module {
  readonly shift = this.registerBuffer('shift', Tensor.from(LPIPS_SHIFT, [1, 3, 1, 1]));
  readonly scale = this.registerBuffer('scale', Tensor.from(LPIPS_SCALE, [1, 3, 1, 1]));

  forward(x: Tensor): Tensor {
    return div(sub(x, this.shift), this.scale);
  }
}

/** One LPIPS slice: [max pool], then conv 3x3 + ReLU per listed conv. */
class VggSlice extends Module {
  readonly convs: Conv2d[];

  constructor(
    convs: readonly (readonly [number, number, number])[],
    readonly poolFirst: boolean,
  ) {
    super();
    this.convs = convs.map(([index, cin, cout]) =>
      this.registerModule(String(index), new Conv2d(cin, cout, 3, { padding: 1 })),
    );
  }

  forward(x: Tensor): Tensor {
    let h = this.poolFirst ? maxPool2x2(x) : x;
    for (const conv of this.convs) h = relu(conv.forward(h));
    return h;
  }
}

/** 2x2 max pooling with stride 2, dropping an odd last row or column (torch's floor mode). */
function maxPool2x2(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const [h2, w2] = [Math.floor(h / 2), Math.floor(w / 2)];
  if (h2 < 1 || w2 < 1) throw new Error(`LPIPS: image ${formatShape(x.shape)} is too small for VGG16's pooling`);
  const even = x.slice(2, 0, 2 * h2).slice(3, 0, 2 * w2);
  return max(even.reshape([n, c, h2, 2, w2, 2]), [3, 5]);
}

class NetLinLayer extends Module {
  readonly conv: Conv2d;

  constructor(channels: number) {
    super();
    // Index 1: in the original, index 0 is a dropout layer (p 0.5), which we leave out so the
    // metric is deterministic; it has no parameters, so the keys are unaffected.
    const model = this.registerModule('model', new Module());
    this.conv = model.registerModule('1', new Conv2d(channels, 1, 1, { bias: false }));
  }
}

export class LPIPS extends Module {
  readonly scalingLayer: ScalingLayer;
  readonly slices: VggSlice[];
  readonly lins: NetLinLayer[];

  /** An LPIPS network with random (untrained) weights; load real ones with fromFile or loadWeights. */
  constructor() {
    super();
    this.scalingLayer = this.registerModule('scaling_layer', new ScalingLayer());
    const net = this.registerModule('net', new Module());
    this.slices = VGG16_SLICES.map((convs, i) => net.registerModule(`slice${i + 1}`, new VggSlice(convs, i > 0)));
    this.lins = LPIPS_CHANNELS.map((c, i) => this.registerModule(`lin${i}`, new NetLinLayer(c)));
    // A fixed metric: gradients flow to the images, never to these weights.
    this.requiresGrad_(false);
  }

  /** Reads weights from a safetensors file (see loadWeights for the accepted key names). */
  static fromFile(path: string): LPIPS {
    return new LPIPS().loadWeights(path);
  }

  /**
   * Loads VGG16 and lin weights from a safetensors file, in place. Accepted names: torchvision's
   * `features.{i}.{weight,bias}` or LPIPS's `net.slice{k}.{i}.{weight,bias}`, plus
   * `lin{0..4}.model.1.weight`; `scaling_layer.*` is optional and torchvision's `classifier.*` is
   * skipped. When some key contains `perceptual_loss.` (a whole CompVis first-stage checkpoint),
   * only those keys are read, with everything up to that prefix removed. Any other key, a missing key or a wrong shape is
   * an error that lists them, and nothing is loaded.
   */
  loadWeights(path: string): this {
    const file = SafetensorsFile.open(path);
    try {
      const ownKeys = new Set(this.stateDict().keys());
      const fromCheckpoint = file.keys().some((k) => k.includes(PERCEPTUAL_PREFIX));
      const tensors = new Map<string, TensorData>();
      for (const key of file.keys()) {
        if (fromCheckpoint && !key.includes(PERCEPTUAL_PREFIX)) continue;
        // A whole torchvision VGG16 state dict also has the classifier head, which LPIPS does not use.
        if (key.startsWith('classifier.')) continue;
        const name = lpipsName(
          fromCheckpoint ? key.slice(key.lastIndexOf(PERCEPTUAL_PREFIX) + PERCEPTUAL_PREFIX.length) : key,
        );
        if (tensors.has(name))
          throw new Error(`LPIPS weights "${path}": two tensors map to "${name}" (one is "${key}")`);
        // Keys we do not have are only named in the error, so their bytes are never read.
        tensors.set(
          name,
          ownKeys.has(name) ? file.read(key) : { shape: file.info(key).shape, data: new Float32Array(0) },
        );
      }
      for (const buffer of ['scaling_layer.shift', 'scaling_layer.scale']) {
        if (!tensors.has(buffer)) tensors.set(buffer, this.stateDict().get(buffer) as Tensor);
      }
      try {
        this.loadStateDict(tensors);
      } catch (err) {
        throw new Error(
          `LPIPS weights "${path}" do not fit the VGG16 LPIPS network. Expected torchvision keys ` +
            `features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias} and lin{0..4}.model.1.weight ` +
            `(see docs/decisions/004-perceptual-loss.md).\n${(err as Error).message}`,
        );
      }
    } finally {
      file.close();
    }
    return this;
  }

  /** The five normalised-feature distances summed: [N, 1, 1, 1], 0 for identical images. */
  forward(x: Tensor, xHat: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== 3 || !shapesEqual(x.shape, xHat.shape)) {
      throw new Error(
        `LPIPS: expected two RGB images [N, 3, H, W] of one shape in [-1, 1], got ${formatShape(x.shape)} and ${formatShape(xHat.shape)}`,
      );
    }
    let a = this.scalingLayer.forward(x);
    let b = this.scalingLayer.forward(xHat);
    const layers: Tensor[] = [];
    for (let k = 0; k < this.slices.length; k++) {
      a = this.slices[k].forward(a);
      b = this.slices[k].forward(b);
      const diff = sub(normalizeChannels(a), normalizeChannels(b));
      const weighted = conv2d(mul(diff, diff), this.lins[k].conv.weight); // [N, 1, h, w]
      layers.push(mean(weighted, [2, 3], true));
    }
    return layers.reduce((total, layer) => add(total, layer));
  }
}

const PERCEPTUAL_PREFIX = 'perceptual_loss.';

/** Our key for a file key: torchvision's `features.{i}.` becomes `net.slice{k}.{i}.`. */
function lpipsName(key: string): string {
  const match = /^features\.(\d+)\.(.+)$/.exec(key);
  if (match === null) return key;
  const index = Number(match[1]);
  const slice = VGG16_SLICES.findIndex((convs) => convs.some(([i]) => i === index));
  return slice < 0 ? key : `net.slice${slice + 1}.${index}.${match[2]}`;
}

/** x / (||x||_channels + 1e-10), the LPIPS feature normalisation. */
function normalizeChannels(x: Tensor): Tensor {
  const norm = sqrt(sum(mul(x, x), 1, true));
  return div(x, add(norm, 1e-10));
}
