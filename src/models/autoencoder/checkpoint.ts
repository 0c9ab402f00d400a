// Building a first-stage model from its config and loading its weights, with errors that say
// which architecture a checkpoint holds when it does not fit the model.
import { readSafetensors } from '../../io/safetensors.js';
import type { StateDictInput, TensorData } from '../../nn/module.js';
import type { Generator } from '../../tensor/random.js';
import { AutoencoderKL } from './autoencoder-kl.js';
import type { AutoencoderConfig } from './config.js';
import { VQModel } from './vq-model.js';

/** Builds the model a config describes (random weights), and loads `ckpt_path` when the config sets one. */
export function autoencoderFromConfig(config: AutoencoderConfig, generator?: Generator): AutoencoderKL | VQModel {
  const { ddconfig, embed_dim, n_embed, beta, legacy, ckpt_path: ckptPath, ignore_keys: ignoreKeys } = config.params;
  const model =
    config.kind === 'kl'
      ? new AutoencoderKL({ ddconfig, embed_dim }, generator)
      : new VQModel({ ddconfig, embed_dim, n_embed, beta, legacy }, generator);
  if (ckptPath !== null) {
    if (!ckptPath.endsWith('.safetensors')) {
      throw new Error(
        `autoencoderFromConfig: ckpt_path "${ckptPath}" must be a .safetensors file (convert pickled .ckpt files first)`,
      );
    }
    const weights = readSafetensors(ckptPath);
    for (const key of [...weights.keys()]) if (ignoreKeys.some((prefix) => key.startsWith(prefix))) weights.delete(key);
    loadAutoencoderStateDict(model, weights);
  }
  return model;
}

/** What a first-stage state dict's shapes say about its architecture. */
export interface CheckpointArchitecture {
  kind: 'AutoencoderKL' | 'VQModel';
  in_channels: number;
  ch: number;
  ch_mult: number[];
  num_res_blocks: number;
  z_channels: number;
  embed_dim: number;
  n_embed: number | null;
}

function toMap(stateDict: StateDictInput): Map<string, TensorData> {
  return stateDict instanceof Map
    ? new Map(stateDict)
    : new Map(Object.entries(stateDict as Record<string, TensorData>));
}

/** Reads the architecture from key names and shapes; null when the keys are not a first stage's. */
export function inferArchitecture(stateDict: StateDictInput): CheckpointArchitecture | null {
  const weights = toMap(stateDict);
  const shape = (key: string): readonly number[] | undefined => weights.get(key)?.shape;
  const convIn = shape('encoder.conv_in.weight');
  const postQuant = shape('post_quant_conv.weight');
  if (convIn === undefined || postQuant === undefined) return null;
  const ch = convIn[0];
  const chMult: number[] = [];
  while (shape(`encoder.down.${chMult.length}.block.0.conv1.weight`) !== undefined) {
    chMult.push(shape(`encoder.down.${chMult.length}.block.0.conv1.weight`)![0] / ch);
  }
  let numResBlocks = 0;
  while (shape(`encoder.down.0.block.${numResBlocks}.conv1.weight`) !== undefined) numResBlocks++;
  const codebook = shape('quantize.embedding.weight');
  return {
    kind: codebook === undefined ? 'AutoencoderKL' : 'VQModel',
    in_channels: convIn[1],
    ch,
    ch_mult: chMult,
    num_res_blocks: numResBlocks,
    z_channels: postQuant[0],
    embed_dim: postQuant[1],
    n_embed: codebook?.[0] ?? null,
  };
}

function describe(a: CheckpointArchitecture): string {
  const codes = a.n_embed === null ? '' : `, n_embed ${a.n_embed}`;
  return `${a.kind} (in_channels ${a.in_channels}, ch ${a.ch}, ch_mult [${a.ch_mult.join(', ')}], num_res_blocks ${a.num_res_blocks}, z_channels ${a.z_channels}, embed_dim ${a.embed_dim}${codes})`;
}

export interface LoadedAutoencoder {
  /** The training loss's own state (`loss.*` keys of a first-stage training checkpoint), prefix removed. */
  loss: Map<string, TensorData>;
}

/**
 * Loads first-stage weights strictly. Accepts a first stage's own state dict, one that also holds
 * its training loss (`loss.*`, returned apart), or a whole LDM checkpoint (only the
 * `first_stage_model.*` keys are used). A checkpoint of another architecture is an error that
 * names both architectures; nothing is loaded then.
 */
export function loadAutoencoderStateDict(model: AutoencoderKL | VQModel, stateDict: StateDictInput): LoadedAutoencoder {
  let weights = toMap(stateDict);
  const prefix = 'first_stage_model.';
  if ([...weights.keys()].some((key) => key.startsWith(prefix))) {
    weights = new Map(
      [...weights].filter(([key]) => key.startsWith(prefix)).map(([key, v]) => [key.slice(prefix.length), v]),
    );
  }
  const loss = new Map<string, TensorData>();
  for (const [key, value] of weights) {
    if (key.startsWith('loss.')) {
      loss.set(key.slice('loss.'.length), value);
      weights.delete(key);
    }
  }
  const theirs = inferArchitecture(weights);
  const ours = inferArchitecture(model.stateDict());
  if (theirs === null) {
    const keys = [...weights.keys()];
    const sample = keys.slice(0, 5).join(', ') + (keys.length > 5 ? `, ... (${keys.length} keys)` : '');
    throw new Error(
      `loadAutoencoderStateDict: this is not a first-stage autoencoder checkpoint (no encoder.conv_in.weight / post_quant_conv.weight); its keys: ${sample || 'none'}`,
    );
  }
  try {
    model.loadStateDict(weights);
  } catch (err) {
    const head =
      ours !== null && describe(ours) !== describe(theirs)
        ? `loadAutoencoderStateDict: the checkpoint holds ${describe(theirs)}, but the model is ${describe(ours)}; build the model from the checkpoint's config.\n`
        : '';
    throw new Error(head + (err as Error).message);
  }
  return { loss };
}

/** Reads a .safetensors checkpoint and loads it with loadAutoencoderStateDict. */
export function loadAutoencoderCheckpoint(model: AutoencoderKL | VQModel, path: string): LoadedAutoencoder {
  return loadAutoencoderStateDict(model, readSafetensors(path));
}
