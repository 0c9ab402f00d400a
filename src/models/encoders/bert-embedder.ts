// The text conditioning stages of CompVis' text-to-image LDM (ldm.modules.encoders.modules):
// BERTEmbedder tokenizes captions and runs a transformer trained jointly with the U-Net
// (Rombach et al. 2022, Sec. 4.3.1: the text-to-image model "implements tau_theta as a
// transformer"); TransformerEmbedder is the same transformer taking token ids. Both return the
// whole token sequence [N, max_seq_len, n_embed] after the final LayerNorm, which the U-Net's
// cross-attention reads as its context (context_dim = n_embed). Keys: `transformer.*`
// (`cond_stage_model.transformer.*` in a full checkpoint), see text-transformer.ts.
import { Module } from '../../nn/module.js';
import type { Generator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';
import { DEFAULT_DIM_HEAD, DEFAULT_HEADS, TransformerEncoder, TransformerWrapper } from './text-transformer.js';
import type { TextTokenizer } from './tokenizer.js';

/** The constructor arguments of CompVis' TransformerEmbedder, snake_case as in the YAML files. */
export interface TransformerEmbedderParams {
  /** Width of the token embeddings and of the output (the U-Net's context_dim). */
  n_embed: number;
  /** Number of (attention, feed-forward) layers. */
  n_layer: number;
  vocab_size: number;
  /** Length of the position table, and of every tokenized caption. */
  max_seq_len: number;
  /** Extension: attention heads (x-transformers' default 8; the original configs cannot set it). */
  heads: number;
  /** Extension: channels per head (x-transformers' default 64), so that CPU-sized models stay small. */
  dim_head: number;
}

export const TRANSFORMER_EMBEDDER_DEFAULTS: Omit<TransformerEmbedderParams, 'n_embed' | 'n_layer' | 'vocab_size'> = {
  max_seq_len: 77,
  heads: DEFAULT_HEADS,
  dim_head: DEFAULT_DIM_HEAD,
};

/** The constructor arguments of CompVis' BERTEmbedder, with the same extensions. */
export interface BertEmbedderParams extends TransformerEmbedderParams {
  /** When false, the embedder takes token ids only (encodeTokens); forward(texts) is an error. */
  use_tokenizer: boolean;
  /** Dropout on the summed token and position embeddings, in training mode only. */
  embedding_dropout: number;
  /**
   * Extension: probability with which a training step replaces a caption by the empty caption
   * (condition dropout for classifier-free guidance, like ClassEmbedder's ucg_rate). Stored here
   * for the trainer; the embedder itself never drops captions.
   */
  ucg_rate: number;
}

export const BERT_EMBEDDER_DEFAULTS: Omit<BertEmbedderParams, 'n_embed' | 'n_layer'> = {
  ...TRANSFORMER_EMBEDDER_DEFAULTS,
  vocab_size: 30522,
  use_tokenizer: true,
  embedding_dropout: 0,
  ucg_rate: 0,
};

function buildTransformer(
  params: TransformerEmbedderParams,
  embDropout: number,
  generator: Generator | undefined,
  owner: string,
): TransformerWrapper {
  for (const key of ['n_embed', 'n_layer', 'vocab_size', 'max_seq_len', 'heads', 'dim_head'] as const) {
    const value = params[key];
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`${owner}: ${key} must be a positive integer, got ${value}`);
  }
  const { n_embed: dim, n_layer: depth, heads, dim_head: dimHead } = params;
  const encoder = new TransformerEncoder(dim, depth, { heads, dimHead, generator });
  return new TransformerWrapper(params.vocab_size, params.max_seq_len, encoder, { embDropout, generator });
}

/** Token ids [N, L] -> token sequence embeddings [N, L, n_embed]. */
export class TransformerEmbedder extends Module {
  readonly params: TransformerEmbedderParams;
  readonly transformer: TransformerWrapper;

  constructor(
    params: Pick<TransformerEmbedderParams, 'n_embed' | 'n_layer' | 'vocab_size'> & Partial<TransformerEmbedderParams>,
    generator?: Generator,
  ) {
    super();
    this.params = { ...TRANSFORMER_EMBEDDER_DEFAULTS, ...params };
    this.transformer = this.registerModule(
      'transformer',
      buildTransformer(this.params, 0, generator, 'TransformerEmbedder'),
    );
  }

  forward(tokens: Tensor): Tensor {
    return this.transformer.embed(tokens);
  }

  /** The conditioning-stage interface (CompVis `encode`): the same as forward. */
  encode(tokens: Tensor): Tensor {
    return this.forward(tokens);
  }
}

/** Captions -> tokenizer (max_seq_len ids each, padded) -> transformer -> [N, max_seq_len, n_embed]. */
export class BERTEmbedder extends Module {
  readonly params: BertEmbedderParams;
  readonly transformer: TransformerWrapper;
  #tokenizer: TextTokenizer | null = null;

  constructor(
    params: Pick<BertEmbedderParams, 'n_embed' | 'n_layer'> & Partial<BertEmbedderParams>,
    generator?: Generator,
    tokenizer?: TextTokenizer,
  ) {
    super();
    this.params = { ...BERT_EMBEDDER_DEFAULTS, ...params };
    const { embedding_dropout: dropout, ucg_rate: rate } = this.params;
    if (!(dropout >= 0 && dropout < 1)) {
      throw new Error(`BERTEmbedder: embedding_dropout must be in [0, 1), got ${dropout}`);
    }
    if (!(rate >= 0 && rate <= 1)) throw new Error(`BERTEmbedder: ucg_rate must be in [0, 1], got ${rate}`);
    this.transformer = this.registerModule(
      'transformer',
      buildTransformer(this.params, dropout, generator, 'BERTEmbedder'),
    );
    if (tokenizer !== undefined) this.setTokenizer(tokenizer);
  }

  /** The tokenizer that forward(texts) uses, or null before setTokenizer. */
  get tokenizer(): TextTokenizer | null {
    return this.#tokenizer;
  }

  /** Sets the tokenizer (e.g. one trained on the captions after the model was built); its ids must fit vocab_size. */
  setTokenizer(tokenizer: TextTokenizer): void {
    if (tokenizer.vocabSize > this.params.vocab_size) {
      throw new Error(
        `BERTEmbedder: the tokenizer's vocabulary (${tokenizer.vocabSize} ids) does not fit vocab_size ${this.params.vocab_size}`,
      );
    }
    this.#tokenizer = tokenizer;
  }

  /** Captions -> token ids [N, max_seq_len] (as floats, the engine's index convention). */
  tokenize(texts: readonly string[]): Tensor {
    if (!this.params.use_tokenizer) {
      throw new Error('BERTEmbedder: use_tokenizer is false, so it takes token ids: call encodeTokens(ids [N, L])');
    }
    const tokenizer = this.#tokenizer;
    if (tokenizer === null) {
      throw new Error(
        `BERTEmbedder: no tokenizer set, cannot encode ${texts.length} text(s); call setTokenizer(tokenizer) first`,
      );
    }
    const length = this.params.max_seq_len;
    const ids = new Float32Array(texts.length * length);
    texts.forEach((text, i) => {
      const row = tokenizer.encode(text, length);
      if (row.length !== length) {
        throw new Error(
          `BERTEmbedder: the tokenizer gave ${row.length} ids for text ${i}, expected max_seq_len ${length}`,
        );
      }
      ids.set(row, i * length);
    });
    return new Tensor(ids, [texts.length, length]);
  }

  /** Captions -> context [N, max_seq_len, n_embed], differentiable with respect to the parameters. */
  forward(texts: readonly string[]): Tensor {
    if (texts.length === 0) throw new Error('BERTEmbedder: no texts given');
    return this.encodeTokens(this.tokenize(texts));
  }

  /** The conditioning-stage interface (CompVis `encode`): the same as forward. */
  encode(texts: readonly string[]): Tensor {
    return this.forward(texts);
  }

  /** Token ids [N, L] (L <= max_seq_len, ids in [0, vocab_size)) -> [N, L, n_embed]. */
  encodeTokens(tokens: Tensor): Tensor {
    if (tokens.rank !== 2) {
      throw new Error(`BERTEmbedder: expected token ids [N, L], got ${formatShape(tokens.shape)}`);
    }
    return this.transformer.embed(tokens);
  }
}
