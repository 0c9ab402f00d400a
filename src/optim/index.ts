// Optimizers, gradient clipping, EMA of weights, LR schedules and their state save/load.
export {
  Optimizer,
  type BaseHyperParams,
  type HyperValue,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupSpec,
  type ParamGroupState,
  type ParamList,
  type ParamsArg,
  type ParamState,
} from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { clipGradNorm, type ClipGradNormOptions } from './clip-grad.js';
export { EMA, type EMAOptions, type EMAStateDict } from './ema.js';
export {
  applyLRSchedule,
  constantSchedule,
  cosineWarmupSchedule,
  lambdaLinearSchedule,
  linearWarmupSchedule,
  setLearningRate,
  type CosineScheduleOptions,
  type HasParamGroups,
  type LambdaLinearOptions,
  type LRSchedule,
} from './lr-schedule.js';
export {
  emaStateFromTensors,
  emaStateToTensors,
  optimizerStateFromTensors,
  optimizerStateToTensors,
  type TensorRecords,
} from './state-io.js';
