// What the diffusion stage needs from any first-stage autoencoder: images in [-1, 1] to the
// latents it diffuses, and back.
import type { Module } from '../../nn/module.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface FirstStageModel extends Module {
  readonly kind: 'kl' | 'vq';
  /** Channels of the latent the diffusion model sees (embed_dim). */
  readonly latentChannels: number;
  /** Image side / latent side. */
  readonly downsamplingFactor: number;
  /**
   * Images [B, C, H, W] in [-1, 1] -> latents [B, embed_dim, H / f, W / f]. KL: the posterior
   * mean, or a sample when a generator is given. VQ: the pre-quantisation latent (LDMs diffuse it).
   */
  encodeLatent(x: Tensor, generator?: Generator): Tensor;
  /** Latents -> images [B, out_ch, H, W]; a VQ model quantises first. */
  decodeLatent(z: Tensor): Tensor;
}
