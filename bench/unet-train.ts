// Our column of the U-Net training-step cases: the CompVis UNetModel of src/models/unet with
// spatial transformers and cross-attention, one step of forward, MSE loss against a target,
// backward and AdamW over all parameters, as a diffusion trainer runs it. bench/torch_peer.py
// times the same step on scripts/unet_reference.py.
import { F, Generator, Tensor, optim } from '../src/index.js';
import { UNetModel, type UNetConfigInput } from '../src/models/unet/index.js';
import type { UNetTrainSpec } from './cases.js';

/** The spec's U-Net as CompVis `unet_config.params`. */
function unetConfig(s: UNetTrainSpec): UNetConfigInput {
  return {
    in_channels: s.channels,
    out_channels: s.channels,
    model_channels: s.modelChannels,
    channel_mult: s.channelMult,
    num_res_blocks: s.numResBlocks,
    attention_resolutions: s.attentionResolutions,
    num_head_channels: s.numHeadChannels,
    use_spatial_transformer: true,
    transformer_depth: s.transformerDepth,
    context_dim: s.contextDim,
  };
}

/** A function running one training step; throws when the model's size differs from the spec's. */
export function unetTrainStep(s: UNetTrainSpec): () => void {
  const gen = new Generator(7);
  const model = new UNetModel(unetConfig(s), gen);
  const count = model.numParameters();
  if (count !== s.parameters) {
    throw new Error(`U-Net ${s.modelChannels} channels has ${count} parameters, the spec says ${s.parameters}`);
  }
  const x = Tensor.randn([s.batch, s.channels, s.size, s.size], gen);
  const target = Tensor.randn(x.shape, gen);
  const context = Tensor.randn([s.batch, s.contextTokens, s.contextDim], gen);
  const timesteps = Tensor.from(Array.from({ length: s.batch }, () => gen.integer(s.timesteps)));
  const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-4 });
  return () => {
    optimizer.zeroGrad();
    // As the LDM trainer does: the step's activations go back to the buffer pool for the next.
    F.mseLoss(model.forward(x, timesteps, { context }), target).backward(undefined, { releaseActivations: true });
    optimizer.step();
  };
}
