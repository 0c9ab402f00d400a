// Conditioning stages (CompVis `cond_stage_model`): class labels and image-shaped conditions.
export { ClassEmbedder, CLASS_EMBEDDER_DEFAULTS, type ClassEmbedderParams } from './class-embedder.js';
export { SpatialRescaler, SPATIAL_RESCALER_DEFAULTS, type SpatialRescalerParams } from './spatial-rescaler.js';
export { interpolate, resamplingMatrix, INTERPOLATION_MODES, type InterpolationMode } from './interpolate.js';
export {
  BERTEmbedder,
  BERT_EMBEDDER_DEFAULTS,
  TransformerEmbedder,
  TRANSFORMER_EMBEDDER_DEFAULTS,
  type BertEmbedderParams,
  type TransformerEmbedderParams,
} from './bert-embedder.js';
export {
  TransformerWrapper,
  TransformerEncoder,
  type TransformerEncoderOptions,
  type TransformerWrapperOptions,
} from './text-transformer.js';
// Text: the tokenizer contract and BERT's WordPiece tokenizer (vocab.txt or trained on captions).
export type { TextTokenizer, TokenizerJSON } from './tokenizer.js';
export {
  WordPieceTokenizer,
  WORDPIECE_DEFAULTS,
  SPECIAL_TOKENS,
  bertWords,
  type WordPieceSettings,
  type WordPieceJSON,
  type WordPieceTrainOptions,
} from './wordpiece-tokenizer.js';
