// Training loops and their pieces: checkpoints, progress, logs, metrics.
export {
  AutoencoderTrainer,
  type AutoencoderTrainerOptions,
  type ResumeOptions,
  type StepResult,
  type TrainResult,
} from './autoencoder-trainer.js';
export {
  autoencoderCheckpointFiles,
  readAutoencoderTrainerState,
  restoreAutoencoderCheckpoint,
  MODEL_FILE,
  EMA_FILE,
  OPTIMIZERS_FILE,
  TRAINER_STATE_FILE,
  type AutoencoderRunSettings,
  type AutoencoderTrainerState,
  type AutoencoderTrainingParts,
} from './autoencoder-checkpoint.js';
export { readEmaWeights, writeEmaWeights } from './ema-file.js';
export {
  resolveAutoencoderConfig,
  autoencoderConfigToObject,
  autoencoderConfigFromObject,
  scaledLearningRate,
} from './autoencoder-config.js';
export {
  evaluateReconstructions,
  reconstructImages,
  reconstructionGrid,
  type ReconstructionMetrics,
} from './autoencoder-evaluation.js';
export {
  writeCheckpoint,
  writeFileAtomic,
  listCheckpoints,
  readLastPointer,
  resolveCheckpoint,
  checkpointName,
  CHECKPOINTS_DIR,
  LAST_POINTER,
  type CheckpointFile,
  type WriteCheckpointOptions,
} from './checkpoint.js';
export { psnr, ssim, gaussianKernel1d, SSIM_WINDOW_SIZE, SSIM_SIGMA, type MetricValues } from './metrics.js';
export {
  TerminalProgress,
  silentProgress,
  formatProgressLine,
  formatDuration,
  formatNumber,
  type ProgressSink,
  type ProgressStats,
  type ProgressStream,
  type TerminalProgressOptions,
} from './progress.js';
export { RunLog, readRunLog, type LogRecord } from './run-log.js';
export { openTrainingData, fixedImages, datasetImages, type TrainingData } from './training-data.js';
export {
  loadFirstStageModel,
  readImagesForModel,
  modelImageSize,
  reconstructFiles,
  encodeFiles,
  readLatents,
  decodeFile,
  type LoadFirstStageOptions,
  type LoadedFirstStage,
} from './autoencoder-tools.js';
