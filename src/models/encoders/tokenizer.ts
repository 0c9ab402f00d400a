// The contract between a text tokenizer and the text encoders that consume its ids.

/** A tokenizer's saved form: enough to rebuild it exactly (kept beside a model's weights). */
export interface TokenizerJSON {
  /** e.g. 'wordpiece'. */
  type: string;
  [key: string]: unknown;
}

export interface TextTokenizer {
  /** Number of ids the tokenizer can produce (ids lie in [0, vocabSize)). */
  readonly vocabSize: number;
  /** Id of the padding token. */
  readonly padId: number;
  /**
   * Token ids of one text, exactly `maxLength` of them, as the BERT tokenizer of CompVis'
   * BERTEmbedder gives them (truncation and max-length padding): [CLS] pieces [SEP], the pieces
   * truncated so that [SEP] still fits, then [PAD] to maxLength. Unknown words become [UNK].
   */
  encode(text: string, maxLength: number): number[];
  toJSON(): TokenizerJSON;
}
