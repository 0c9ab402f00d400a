// User-level tasks over a trained model: generation, and the download-free evaluation of `ldm eval`.
export { generate, classGridLabels, DEFAULT_SAMPLER, DEFAULT_STEPS, type GenerateOptions } from './generate.js';
export {
  evaluateClassConditional,
  parseSamplerSettings,
  type EvaluationOptions,
  type EvaluationRow,
  type SamplerSetting,
} from './evaluate.js';
export {
  evaluateTextConditional,
  heldOutPrompts,
  type HeldOutPrompt,
  type TextEvaluationOptions,
} from './evaluate-text.js';
