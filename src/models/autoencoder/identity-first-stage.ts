// CompVis IdentityFirstStage: no compression, so that the same LatentDiffusion code trains and
// samples a pixel-space diffusion model (f = 1), the baseline of the paper's compute comparison
// (Rombach et al. 2022, Sec. 4.1, "LDM-1"). Its "latents" are the images in [-1, 1].
import { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';

export class IdentityFirstStage extends Module {
  readonly kind = 'identity';
  readonly downsamplingFactor = 1;
  readonly latentChannels: number;
  /** The fields of an autoencoder's options that a latent diffusion model reads. */
  readonly options: { ddconfig: { resolution: number; in_channels: number; out_ch: number } };

  constructor(channels: number, resolution: number) {
    super();
    if (!Number.isInteger(channels) || channels < 1 || !Number.isInteger(resolution) || resolution < 1) {
      throw new Error(
        `IdentityFirstStage: channels and resolution must be positive integers, got ${channels}, ${resolution}`,
      );
    }
    this.latentChannels = channels;
    this.options = { ddconfig: { resolution, in_channels: channels, out_ch: channels } };
  }

  encodeLatent(images: Tensor): Tensor {
    return images;
  }

  decodeLatent(z: Tensor): Tensor {
    return z;
  }
}
