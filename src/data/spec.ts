// Data specs, as the CLI's --data takes them: `mnist`, `fashion-mnist`, `emoji`, `folder:<path>`.
import type { Dataset } from './dataset.js';
import { emoji } from './emoji.js';
import { imageFolder, type FolderOptions } from './folder.js';
import { fashionMnist, mnist } from './mnist.js';

/** The spec forms parseDataSpec accepts, for help texts. */
export const DATA_SPECS: readonly string[] = ['mnist', 'fashion-mnist', 'emoji', 'folder:<path>'];

/**
 * The dataset a spec names. `size` defaults to 32 for MNIST and Fashion-MNIST and 64 for emoji, and
 * is required for folders; `split` defaults to 'train'; `crop` and `cache` apply to folders
 * only (the others are square already and held in memory).
 */
export function parseDataSpec(spec: string, options: FolderOptions = {}): Dataset {
  if (spec.startsWith('folder:')) {
    const path = spec.slice('folder:'.length);
    if (path.length === 0) throw new Error(`data spec '${spec}': folder: needs a path, e.g. folder:./images`);
    return imageFolder(path, options);
  }
  // The bundled datasets are square already and small enough to hold: crop and cache do not apply.
  const { size, split, channels } = options;
  const common = { size, split, channels };
  switch (spec) {
    case 'mnist':
      return mnist(common);
    case 'fashion-mnist':
      return fashionMnist(common);
    case 'emoji':
      return emoji(common);
    default:
      throw new Error(`unknown data spec '${spec}' (valid: ${DATA_SPECS.join(', ')})`);
  }
}
