// The first stage: perceptual compression autoencoders (KL and VQ) and their configs.
export { ResnetBlock, AttnBlock, Downsample, Upsample } from './blocks.js';
export { Encoder, EncoderLevel, MidBlock } from './encoder.js';
export { Decoder, DecoderLevel } from './decoder.js';
export { DiagonalGaussianDistribution } from './distribution.js';
export { VectorQuantizer, type VectorQuantizerOptions, type Quantized } from './quantize.js';
export { AutoencoderKL, type AutoencoderKLOptions, type AutoencoderKLOutput } from './autoencoder-kl.js';
export { VQModel, type VQModelOptions, type VQModelOutput } from './vq-model.js';
export type { FirstStageModel } from './first-stage.js';
export {
  autoencoderFromConfig,
  inferArchitecture,
  loadAutoencoderStateDict,
  loadAutoencoderCheckpoint,
  type CheckpointArchitecture,
  type LoadedAutoencoder,
} from './checkpoint.js';
export {
  DDCONFIG_DEFAULTS,
  LOSS_PARAMS_DEFAULTS,
  AUTOENCODER_PARAMS_DEFAULTS,
  readAutoencoderNode,
  readAutoencoderConfig,
  loadAutoencoderConfig,
  type DDConfig,
  type LossParams,
  type LossConfig,
  type AutoencoderParams,
  type AutoencoderKind,
  type AutoencoderConfig,
  type AutoencoderTrainingConfig,
} from './config.js';
export { autoencoderPresetPath, autoencoderPresetNames } from './presets.js';
