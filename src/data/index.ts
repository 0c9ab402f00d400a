// Datasets and batching: `import { data } from 'latent-diffusion'`.
export { SPLITS, type Dataset, type DatasetOptions, type Sample, type Split } from './dataset.js';
export { horizontalFlip, convertChannels } from './transforms.js';
export { DataLoader, type Batch, type DataLoaderOptions } from './loader.js';
export { mnist, fashionMnist, MNIST_CLASSES, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from './mnist.js';
export { emoji, emojiCategories, emojiEntries, type EmojiEntry } from './emoji.js';
export { imageFolder, IMAGE_EXTENSIONS, type FolderOptions } from './folder.js';
export { parseDataSpec, DATA_SPECS } from './spec.js';
export { parseIdx, readIdx, type IdxArray } from './idx.js';
