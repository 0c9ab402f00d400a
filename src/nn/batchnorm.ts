// Batch normalisation over NCHW images, as in torch.nn.BatchNorm2d (Ioffe & Szegedy, 2015).
import { batchNorm, type BatchNormState } from '../tensor/ops/norm.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { checkPositive, checkPositiveInteger } from './check.js';
import { Module } from './module.js';

export interface BatchNormOptions {
  eps?: number;
  /**
   * Weight of the current batch in the running statistics' update (default 0.1); null for a
   * cumulative average (weight 1 / numBatchesTracked), as in PyTorch.
   */
  momentum?: number | null;
  /** Learn a per-channel scale (init 1) and shift (init 0); default true. */
  affine?: boolean;
  /**
   * Keep running_mean, running_var and num_batches_tracked buffers and use them in eval mode
   * (default true); without them, batch statistics are used in both modes.
   */
  trackRunningStats?: boolean;
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  /** A count of training batches seen, kept as a float32 scalar (int64 in PyTorch checkpoints). */
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;

  constructor(
    readonly numFeatures: number,
    { eps = 1e-5, momentum = 0.1, affine = true, trackRunningStats = true }: BatchNormOptions = {},
  ) {
    super();
    checkPositiveInteger(numFeatures, 'BatchNorm2d', 'numFeatures');
    checkPositive(eps, 'BatchNorm2d', 'eps');
    if (momentum !== null && !(momentum >= 0 && momentum <= 1)) {
      throw new Error(`BatchNorm2d: momentum must be in [0, 1] or null, got ${momentum}`);
    }
    this.eps = eps;
    this.momentum = momentum;
    this.weight = affine ? this.registerParameter('weight', Tensor.ones([numFeatures])) : null;
    this.bias = affine ? this.registerParameter('bias', Tensor.zeros([numFeatures])) : null;
    if (trackRunningStats) {
      this.runningMean = this.registerBuffer('running_mean', Tensor.zeros([numFeatures]));
      this.runningVar = this.registerBuffer('running_var', Tensor.ones([numFeatures]));
      this.numBatchesTracked = this.registerBuffer('num_batches_tracked', Tensor.scalar(0));
    } else {
      this.runningMean = null;
      this.runningVar = null;
      this.numBatchesTracked = null;
    }
  }

  /** Running statistics back to mean 0, variance 1, no batches seen. */
  resetRunningStats(): void {
    this.runningMean?.data.fill(0);
    this.runningVar?.data.fill(1);
    this.numBatchesTracked?.data.fill(0);
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.numFeatures) {
      throw new Error(`BatchNorm2d: expected input [N, ${this.numFeatures}, H, W], got ${formatShape(x.shape)}`);
    }
    if (this.runningMean === null || this.runningVar === null || this.numBatchesTracked === null) {
      // No running statistics: normalise by the batch's in both modes; the update goes to scratch.
      const scratch: BatchNormState = {
        runningMean: Tensor.zeros([this.numFeatures]),
        runningVar: Tensor.ones([this.numFeatures]),
      };
      return batchNorm(x, scratch, this.weight, this.bias, true, 0, this.eps);
    }
    let factor = 0;
    if (this.training) {
      this.numBatchesTracked.data[0] += 1;
      factor = this.momentum ?? 1 / this.numBatchesTracked.data[0];
    }
    const state: BatchNormState = { runningMean: this.runningMean, runningVar: this.runningVar };
    return batchNorm(x, state, this.weight, this.bias, this.training, factor, this.eps);
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight !== null}, trackRunningStats=${this.runningMean !== null}`;
  }
}
