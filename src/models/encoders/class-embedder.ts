// ClassEmbedder (CompVis ldm.modules.encoders.modules): class labels -> a context sequence of
// length 1 for the U-Net's cross-attention (Rombach et al. 2022, Sec. 4.3 class-conditional
// models). Key: `embedding.weight` [n_classes, embed_dim] (`cond_stage_model.embedding.weight`
// in a full checkpoint). As in the later CompVis/Stable Diffusion code, the last class,
// n_classes - 1, is the null class that classifier-free guidance trains and samples with.
import { Embedding } from '../../nn/embedding.js';
import { Module } from '../../nn/module.js';
import { Generator, defaultGenerator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

/** The constructor arguments of CompVis' ClassEmbedder, snake_case as in the YAML files. */
export interface ClassEmbedderParams {
  embed_dim: number;
  /** Number of embeddings, the null class included. */
  n_classes: number;
  /** The batch key the labels come from (kept for configs; unused here). */
  key: string;
  /** Probability with which dropLabels replaces a label by the null class (condition dropout). */
  ucg_rate: number;
}

export const CLASS_EMBEDDER_DEFAULTS: Omit<ClassEmbedderParams, 'embed_dim'> = {
  n_classes: 1000,
  key: 'class',
  ucg_rate: 0,
};

export class ClassEmbedder extends Module {
  readonly params: ClassEmbedderParams;
  readonly embedding: Embedding;

  constructor(params: Pick<ClassEmbedderParams, 'embed_dim'> & Partial<ClassEmbedderParams>, generator?: Generator) {
    super();
    this.params = { ...CLASS_EMBEDDER_DEFAULTS, ...params };
    const { embed_dim: embedDim, n_classes: classes, ucg_rate: rate } = this.params;
    if (!Number.isInteger(classes) || classes < 1) {
      throw new Error(`ClassEmbedder: n_classes must be a positive integer, got ${classes}`);
    }
    if (!Number.isInteger(embedDim) || embedDim < 1) {
      throw new Error(`ClassEmbedder: embed_dim must be a positive integer, got ${embedDim}`);
    }
    if (!(rate >= 0 && rate <= 1)) throw new Error(`ClassEmbedder: ucg_rate must be in [0, 1], got ${rate}`);
    this.embedding = this.registerModule('embedding', new Embedding(classes, embedDim, { generator }));
  }

  /** The null class: n_classes - 1. */
  get nullClass(): number {
    return this.params.n_classes - 1;
  }

  /** Labels [N] (integer values in [0, n_classes)) -> context [N, 1, embed_dim]. */
  forward(labels: Tensor): Tensor {
    if (labels.rank !== 1) throw new Error(`ClassEmbedder: expected labels [N], got ${formatShape(labels.shape)}`);
    const bad = labels.data.findIndex((v) => !Number.isInteger(v) || v < 0 || v >= this.params.n_classes);
    if (bad !== -1) {
      throw new Error(
        `ClassEmbedder: label ${labels.data[bad]} at ${bad} is not an integer in [0, ${this.params.n_classes})`,
      );
    }
    return this.embedding.forward(labels.reshape([labels.shape[0], 1]));
  }

  /** The conditioning-stage interface (CompVis `encode`): the same as forward. */
  encode(labels: Tensor): Tensor {
    return this.forward(labels);
  }

  /** n null-class labels, for the unconditional branch of classifier-free guidance. */
  unconditionalLabels(n: number): Tensor {
    if (!Number.isInteger(n) || n < 0) throw new Error(`ClassEmbedder: n must be a non-negative integer, got ${n}`);
    return Tensor.full([n], this.nullClass);
  }

  /** Replaces each label by the null class with probability `rate` (default ucg_rate), for guidance training. */
  dropLabels(labels: Tensor, rate = this.params.ucg_rate, generator: Generator = defaultGenerator): Tensor {
    if (!(rate >= 0 && rate <= 1)) throw new Error(`ClassEmbedder: drop rate must be in [0, 1], got ${rate}`);
    const out = labels.data.map((label) => (generator.uniform() < rate ? this.nullClass : label));
    return new Tensor(out, labels.shape);
  }
}
