// First-stage (autoencoder) training losses: PatchGAN discriminator, GAN losses, perceptual terms.
export { NLayerDiscriminator, weightsInit, type NLayerDiscriminatorOptions } from './discriminator.js';
export {
  hingeDLoss,
  vanillaDLoss,
  softplus,
  adoptWeight,
  adaptiveWeight,
  MAX_ADAPTIVE_WEIGHT,
  type DiscriminatorLossName,
} from './adversarial.js';
export { LPIPS, LPIPS_SHIFT, LPIPS_SCALE, LPIPS_CHANNELS } from './lpips.js';
export { SSIMLoss, gaussianWindow, type SSIMLossOptions } from './ssim.js';
export {
  createPerceptualLoss,
  DEFAULT_PERCEPTUAL_LOSS,
  PERCEPTUAL_LOSS_NAMES,
  type PerceptualLoss,
  type PerceptualLossName,
  type PerceptualLossOptions,
} from './perceptual.js';
export {
  FirstStageLossBase,
  type FirstStageLossOptions,
  type FirstStageLossInputs,
  type GeneratorPhaseInputs,
  type DiscriminatorLog,
  type PixelLossName,
} from './first-stage-loss.js';
export {
  LPIPSWithDiscriminator,
  type LPIPSWithDiscriminatorOptions,
  type KLGeneratorInputs,
  type KLGeneratorLog,
} from './contperceptual.js';
export {
  VQLPIPSWithDiscriminator,
  type VQLPIPSWithDiscriminatorOptions,
  type VQGeneratorInputs,
  type VQGeneratorLog,
} from './vqperceptual.js';
export { lossFromConfig, type LossConfig, type FirstStageLoss } from './config.js';
