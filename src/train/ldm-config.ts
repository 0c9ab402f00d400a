// Where a latent diffusion run's config comes from (a file or a shipped preset under
// configs/ldm/), and how it is stored with the weights: the CompVis layout, with the first
// stage's config and the measured scale_factor written in, so that a checkpoint is a model on its own.
import * as fs from 'node:fs';
import type { ConfigObject } from '../io/config.js';
import { presetNames, presetPath } from '../io/package-files.js';
import { loadLdmConfig, type LdmTrainingConfig } from '../models/ldm/config.js';
import type { LatentDiffusion } from '../models/ldm/latent-diffusion.js';

/** A config file (YAML or JSON, CompVis layout), or a preset name such as "cpu/mnist-class-f4". */
export function resolveLdmConfig(fileOrPreset: string): LdmTrainingConfig {
  if (fs.existsSync(fileOrPreset)) return loadLdmConfig(fileOrPreset);
  const presets = presetNames('ldm');
  if (presets.includes(fileOrPreset)) return loadLdmConfig(presetPath('ldm', fileOrPreset));
  throw new Error(`config "${fileOrPreset}" is neither a file nor an LDM preset (presets: ${presets.join(', ')})`);
}

/**
 * The config as stored in checkpoints: `first_stage_config` is the model's own first stage
 * (weights inside the file, so no ckpt_path), and `scale_factor` the value in use.
 */
export function ldmConfigToObject(config: LdmTrainingConfig, ldm: LatentDiffusion): ConfigObject {
  const { model } = config.file;
  const stage = ldm.firstStageModel;
  if (stage.kind === 'identity') {
    const params: ConfigObject = {
      ...model.params,
      scale_factor: ldm.scaleFactor,
      scale_by_std: false,
      ckpt_path: null,
    };
    return storedConfig(config, {
      ...params,
      first_stage_config: { target: 'ldm.models.autoencoder.IdentityFirstStage' },
    });
  }
  const ddconfig = { ...stage.options.ddconfig } as unknown as ConfigObject;
  const stageParams: ConfigObject =
    stage.kind === 'kl'
      ? { embed_dim: stage.latentChannels, ddconfig, lossconfig: { target: 'torch.nn.Identity' } }
      : {
          embed_dim: stage.latentChannels,
          n_embed: stage.options.n_embed,
          ddconfig,
          lossconfig: { target: 'torch.nn.Identity' },
        };
  return storedConfig(config, {
    ...model.params,
    scale_factor: ldm.scaleFactor,
    scale_by_std: false,
    ckpt_path: null,
    first_stage_config: {
      target: stage.kind === 'kl' ? 'ldm.models.autoencoder.AutoencoderKL' : 'ldm.models.autoencoder.VQModelInterface',
      params: stageParams,
    },
  });
}

function storedConfig(config: LdmTrainingConfig, params: ConfigObject): ConfigObject {
  const { model, data, lightning } = config.file;
  const out: ConfigObject = { model: { base_learning_rate: model.base_learning_rate, target: model.target, params } };
  if (data !== null) out.data = { target: data.target, params: { ...data.params } };
  if (lightning !== null) out.lightning = lightning;
  return structuredClone(out);
}
