// Evaluation without downloads (`ldm eval`): a small classifier trained on the labelled data,
// the share of samples it assigns to the requested class, and a Frechet distance in its feature space.
export { ImageClassifier, CLASSIFIER_DEFAULTS, type ImageClassifierOptions } from './classifier.js';
export {
  trainClassifier,
  loadOrTrainClassifier,
  saveClassifier,
  loadClassifier,
  datasetAccuracy,
  CLASSIFIER_TRAINING_DEFAULTS,
  CLASSIFIER_FORMAT,
  type ClassifierTrainingOptions,
  type ClassifierFileInfo,
} from './train-classifier.js';
export {
  classifierAccuracy,
  balancedAccuracy,
  predictClasses,
  imageFeatures,
  featureStatistics,
  frechetDistance,
  datasetImages,
  argmaxRows,
  EVAL_BATCH_SIZE,
} from './metrics.js';
export {
  frechetDistanceFromStatistics,
  gaussianStatistics,
  symmetricEigen,
  matmulSquare,
  sqrtPsd,
  traceSqrtProduct,
  type GaussianStatistics,
  type SymmetricEigen,
} from './linalg.js';
