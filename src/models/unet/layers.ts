// Small helpers shared by the U-Net's blocks: its normalisation and CompVis' zero initialisation.
import { zeros_ } from '../../nn/init.js';
import { GroupNorm } from '../../nn/normalization.js';
import type { Tensor } from '../../tensor/tensor.js';

/** The U-Net's normalisation (CompVis `normalization`): GroupNorm with 32 groups, eps 1e-5. */
export function normalization(channels: number): GroupNorm {
  return new GroupNorm(32, channels, { eps: 1e-5 });
}

/** Zeroes a layer's weight and bias (CompVis `zero_module`), so that a new residual branch starts at 0. */
export function zeroModule<M extends { weight: Tensor; bias: Tensor | null }>(layer: M): M {
  zeros_(layer.weight);
  if (layer.bias !== null) zeros_(layer.bias);
  return layer;
}
