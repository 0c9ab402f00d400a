// Neural-network layers (like torch.nn): the Module base with PyTorch-style dotted names and
// state dicts, the layers the models are built from, and parameter initialisation as `init`.
export {
  Module,
  type TensorModule,
  type TensorData,
  type StateDictInput,
  type LoadStateDictOptions,
  type LoadStateDictResult,
} from './module.js';
export { Sequential, ModuleList } from './container.js';
export { Linear, Identity, type LinearOptions } from './linear.js';
export { Conv2d, type Conv2dLayerOptions } from './conv.js';
export { GroupNorm, LayerNorm, type GroupNormOptions, type LayerNormOptions } from './normalization.js';
export { BatchNorm2d, type BatchNormOptions } from './batchnorm.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { Dropout, type DropoutOptions } from './dropout.js';
export { SiLU, GELU, ReLU, LeakyReLU } from './activation.js';
export * as init from './init.js';
