// The latent diffusion model: the CompVis LatentDiffusion wrapper, its config and its weights.
export {
  LatentDiffusion,
  DiffusionWrapper,
  concatConditioning,
  type LdmConditioning,
  type LdmConditionInput,
  type FirstStage,
} from './latent-diffusion.js';
export {
  LDM_PARAMS_DEFAULTS,
  readLdmNode,
  readLdmConfig,
  loadLdmConfig,
  type ConditioningKey,
  type CondStageConfig,
  type LdmConfig,
  type LdmParams,
  type LdmTrainingConfig,
} from './config.js';
export {
  ldmFromConfig,
  ldmStateDict,
  loadLdmStateDict,
  loadLdmWeights,
  configOfLdmWeights,
  ldmWeightsMetadata,
  attachStoredTokenizer,
  TOKENIZER_METADATA_KEY,
  type LoadLdmOptions,
  type LoadLdmWeightsOptions,
  type LoadedLdm,
} from './checkpoint.js';
