// Vector quantisation (van den Oord et al. 2017, "Neural Discrete Representation Learning"):
// each latent vector is replaced by its nearest codebook entry. Registered as `quantize`, so the
// codebook's key is `quantize.embedding.weight` [n_embed, embed_dim].
import { Embedding } from '../../nn/embedding.js';
import { Module } from '../../nn/module.js';
import { noGrad } from '../../tensor/autograd.js';
import { uniform_ } from '../../nn/init.js';
import { embedding, mseLoss } from '../../tensor/ops/losses.js';
import { matmul } from '../../tensor/ops/linalg.js';
import { Generator, defaultGenerator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

export interface VectorQuantizerOptions {
  /** Weight of the commitment term (default 0.25). */
  beta?: number;
  /**
   * Which term beta weighs (default true, as the CompVis and taming code do).
   * - legacy:    ||sg(z_q) - z||^2 + beta * ||z_q - sg(z)||^2 (beta on the codebook term)
   * - corrected: beta * ||sg(z_q) - z||^2 + ||z_q - sg(z)||^2 (beta on the commitment term,
   *   as in the VQ-VAE paper, eq. 3)
   * Both are means over all elements; sg is stop-gradient. The published VQ checkpoints were
   * trained with the legacy form.
   */
  legacy?: boolean;
  generator?: Generator;
}

export interface Quantized {
  /** The nearest codes [B, C, h, w], with the straight-through gradient: d quantized / d z = I. */
  quantized: Tensor;
  /** The codebook + commitment loss (a scalar). */
  loss: Tensor;
  /** Index of each position's code, [B, h, w] (integer values). */
  indices: Tensor;
  /** exp(entropy) of the code usage in this batch: how many codes are effectively in use. */
  perplexity: number;
}

export class VectorQuantizer extends Module {
  readonly embedding: Embedding;
  readonly beta: number;
  readonly legacy: boolean;

  constructor(
    readonly nEmbed: number,
    readonly embedDim: number,
    { beta = 0.25, legacy = true, generator = defaultGenerator }: VectorQuantizerOptions = {},
  ) {
    super();
    this.beta = beta;
    this.legacy = legacy;
    this.embedding = this.registerModule('embedding', new Embedding(nEmbed, embedDim, { generator }));
    // taming's initialisation: U(-1 / n_embed, 1 / n_embed).
    uniform_(this.embedding.weight, -1 / nEmbed, 1 / nEmbed, generator);
  }

  forward(z: Tensor): Quantized {
    if (z.rank !== 4 || z.shape[1] !== this.embedDim) {
      throw new Error(`VectorQuantizer: expected latents [B, ${this.embedDim}, h, w], got ${formatShape(z.shape)}`);
    }
    const [b, c, h, w] = z.shape;
    const flat = z.permute([0, 2, 3, 1]).reshape([b * h * w, c]); // [BHW, C]
    const codes = this.nearestCodes(flat);
    const indices = new Tensor(Float32Array.from(codes), [b, h, w]);
    const zq = this.lookup(indices); // [B, C, h, w]; its gradient reaches the codebook only
    const codebookTerm = mseLoss(zq, z.detach());
    const commitmentTerm = mseLoss(zq.detach(), z);
    const loss = this.legacy
      ? commitmentTerm.add(codebookTerm.mul(this.beta))
      : commitmentTerm.mul(this.beta).add(codebookTerm);
    // Straight-through estimator: the forward value is z_q, the gradient passes to z unchanged.
    const quantized = z.add(noGrad(() => zq.sub(z)));
    return { quantized, loss, indices, perplexity: perplexity(codes, this.nEmbed) };
  }

  /** The codes at `indices` [B, h, w] as latents [B, embed_dim, h, w]. */
  lookup(indices: Tensor): Tensor {
    if (indices.rank !== 3) {
      throw new Error(`VectorQuantizer.lookup: expected indices [B, h, w], got ${formatShape(indices.shape)}`);
    }
    return embedding(this.embedding.weight, indices).permute([0, 3, 1, 2]); // [B, h, w, C] -> [B, C, h, w]
  }

  /** argmin_k ||z - e_k||^2 for each row of z [N, C], as ||z||^2 + ||e_k||^2 - 2 z.e_k (one GEMM). */
  nearestCodes(z: Tensor): Int32Array {
    const k = this.nEmbed;
    const dots = noGrad(() => matmul(z.detach(), this.embedding.weight.detach().transpose(0, 1))).data; // [N, K]
    const codebook = this.embedding.weight.data;
    const codeNorms = new Float64Array(k);
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let d = 0; d < this.embedDim; d++) s += codebook[j * this.embedDim + d] ** 2;
      codeNorms[j] = s;
    }
    const n = z.shape[0];
    const out = new Int32Array(n);
    // ||z||^2 is the same for every code of a row, so it does not change the argmin.
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestDistance = Infinity;
      for (let j = 0; j < k; j++) {
        const distance = codeNorms[j] - 2 * dots[i * k + j];
        if (distance < bestDistance) [best, bestDistance] = [j, distance];
      }
      out[i] = best;
    }
    return out;
  }

  override extraRepr(): string {
    return `${this.nEmbed}, ${this.embedDim}, beta=${this.beta}, legacy=${this.legacy}`;
  }
}

function perplexity(codes: Int32Array, nEmbed: number): number {
  const counts = new Float64Array(nEmbed);
  for (const code of codes) counts[code]++;
  let entropy = 0;
  for (const count of counts) {
    if (count > 0) {
      const p = count / codes.length;
      entropy -= p * Math.log(p);
    }
  }
  return Math.exp(entropy);
}
