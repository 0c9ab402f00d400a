// The perceptual term of the first-stage losses, chosen by name: `lpips` (the original, which
// needs pretrained weights from a file), `ssim` (the default, no download) or `none`.
// Every choice maps (x, xHat) to a per-sample loss [N, 1, 1, 1], 0 for identical images.
// Why SSIM is the default: docs/decisions/004-perceptual-loss.md.
import type { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';
import { LPIPS } from './lpips.js';
import { SSIMLoss } from './ssim.js';

export type PerceptualLossName = 'lpips' | 'ssim' | 'none';

export const PERCEPTUAL_LOSS_NAMES: readonly PerceptualLossName[] = ['lpips', 'ssim', 'none'];

export const DEFAULT_PERCEPTUAL_LOSS: PerceptualLossName = 'ssim';

/** A frozen image distance: forward(x, xHat) -> [N, 1, 1, 1]. */
export type PerceptualLoss = Module & { forward(x: Tensor, xHat: Tensor): Tensor };

export interface PerceptualLossOptions {
  /** Which term; default `ssim`. */
  name?: PerceptualLossName;
  /** Safetensors file with the LPIPS weights; required for (and only used by) `lpips`. */
  weightsPath?: string;
}

/** The chosen perceptual module, or null for `none`. */
export function createPerceptualLoss({
  name = DEFAULT_PERCEPTUAL_LOSS,
  weightsPath,
}: PerceptualLossOptions = {}): PerceptualLoss | null {
  switch (name) {
    case 'lpips':
      if (weightsPath === undefined) {
        throw new Error(
          'perceptual_loss "lpips" needs perceptual_weights: a safetensors file with the VGG16 and LPIPS lin ' +
            'weights (none can be downloaded here; how to make it: docs/decisions/004-perceptual-loss.md). ' +
            'Or choose perceptual_loss "ssim", which needs no weights.',
        );
      }
      return LPIPS.fromFile(weightsPath);
    case 'ssim':
      rejectWeights(name, weightsPath);
      return new SSIMLoss();
    case 'none':
      rejectWeights(name, weightsPath);
      return null;
    default:
      throw new Error(
        `perceptual_loss must be one of ${PERCEPTUAL_LOSS_NAMES.map((n) => `"${n}"`).join(', ')}, got ${JSON.stringify(name)}`,
      );
  }
}

function rejectWeights(name: PerceptualLossName, weightsPath: string | undefined): void {
  if (weightsPath !== undefined) {
    throw new Error(`perceptual_weights "${weightsPath}" given, but perceptual_loss "${name}" takes no weights`);
  }
}
