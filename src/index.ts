// Public API of latent-diffusion.
export { Tensor, type NestedArray } from './tensor/tensor.js';
export { noGrad, isGradEnabled, grad, type GradOptions, type BackwardOptions } from './tensor/autograd.js';
export { Generator, defaultGenerator, manualSeed, type GeneratorState } from './tensor/random.js';
export {
  getBackend,
  useBackend,
  withBackend,
  setNumThreads,
  getNumThreads,
  isNativeAvailable,
  type BackendName,
} from './tensor/device.js';
export type { Backend } from './tensor/backend.js';
export * as F from './tensor/functional.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export {
  SafetensorsFile,
  readSafetensors,
  readSafetensorsMetadata,
  writeSafetensors,
  type TensorRecord,
} from './io/safetensors.js';
export * as data from './data/index.js';
export {
  decodeImage,
  readImage,
  saveImage,
  tensorToPng,
  rawToTensor,
  tensorToRaw,
  imageGrid,
  type DecodeOptions,
  type GridOptions,
  type SaveImageOptions,
} from './io/image.js';
export { encodePng, readPngText, type PngText, type RawImage } from './io/png.js';
export { resize, crop, centerCrop, resizeCenterCrop, type ResizeMode } from './io/resize.js';
export {
  parseConfigText,
  readConfigFile,
  readCompVisConfig,
  loadCompVisConfig,
  readSection,
  ConfigError,
  type ConfigValue,
  type ConfigObject,
  type ConfigPlace,
  type CompVisConfig,
  type DataParams,
  type FieldKind,
  type FieldKinds,
  type TargetNode,
} from './io/config.js';
export {
  AutoencoderKL,
  VQModel,
  Encoder,
  Decoder,
  DiagonalGaussianDistribution,
  VectorQuantizer,
  autoencoderFromConfig,
  inferArchitecture,
  loadAutoencoderStateDict,
  loadAutoencoderCheckpoint,
  DDCONFIG_DEFAULTS,
  LOSS_PARAMS_DEFAULTS,
  AUTOENCODER_PARAMS_DEFAULTS,
  readAutoencoderNode,
  readAutoencoderConfig,
  loadAutoencoderConfig,
  autoencoderPresetPath,
  autoencoderPresetNames,
  type AutoencoderKLOptions,
  type AutoencoderKLOutput,
  type VQModelOptions,
  type VQModelOutput,
  type VectorQuantizerOptions,
  type Quantized,
  type FirstStageModel,
  type CheckpointArchitecture,
  type LoadedAutoencoder,
  type DDConfig,
  type LossParams,
  type LossConfig,
  type AutoencoderParams,
  type AutoencoderKind,
  type AutoencoderConfig,
  type AutoencoderTrainingConfig,
} from './models/autoencoder/index.js';
export { IdentityFirstStage } from './models/autoencoder/identity-first-stage.js';
export * as losses from './models/losses/index.js';
export * as unet from './models/unet/index.js';
export * as encoders from './models/encoders/index.js';
export * as diffusion from './diffusion/index.js';
export * as evaluation from './eval/index.js';
export * from './models/ldm/index.js';
export * from './pipelines/index.js';
export * as train from './train/index.js';
