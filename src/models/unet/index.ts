// The diffusion U-Net (CompVis openaimodel.UNetModel) and its blocks.
export { UNetModel, type UNetConditioning } from './unet-model.js';
export {
  UNET_CONFIG_DEFAULTS,
  UNET_REQUIRED_KEYS,
  attentionLayout,
  levelChannels,
  resolveUNetConfig,
  unetConfigFromParams,
  type AttentionLayout,
  type UNetConfig,
  type UNetConfigInput,
} from './config.js';
export { timestepEmbedding } from './timestep-embedding.js';
export { ResBlock, type ResBlockOptions } from './resblock.js';
export { Upsample, Downsample, type ResampleOptions } from './resample.js';
export { AttentionBlock, PointwiseConv1d, type AttentionBlockOptions } from './attention-block.js';
export { CrossAttention, type CrossAttentionOptions } from './cross-attention.js';
export {
  SpatialTransformer,
  BasicTransformerBlock,
  FeedForward,
  GEGLU,
  type TransformerOptions,
} from './spatial-transformer.js';
export { TimestepEmbedSequential, type UNetLayer } from './timestep-sequential.js';
export { normalization, zeroModule } from './layers.js';
