// Building a first-stage loss from a CompVis `lossconfig` block:
//   lossconfig:
//     target: ldm.modules.losses.LPIPSWithDiscriminator
//     params: { disc_start: 50001, kl_weight: 1.0e-06, disc_weight: 0.5 }
// The params keep the original's snake_case names. Two keys are ours: `perceptual_loss`
// (lpips | ssim | none; the original's VQ loss has the key with only "lpips", and configs rarely
// set it) and `perceptual_weights` (the LPIPS weights file). Without them the perceptual term is
// SSIM, which needs no download (docs/decisions/004-perceptual-loss.md).
import type { Generator } from '../../tensor/random.js';
import type { DiscriminatorLossName } from './adversarial.js';
import { LPIPSWithDiscriminator } from './contperceptual.js';
import type { FirstStageLossOptions, PixelLossName } from './first-stage-loss.js';
import type { PerceptualLossName } from './perceptual.js';
import { VQLPIPSWithDiscriminator } from './vqperceptual.js';

export interface LossConfig {
  target: string;
  /** snake_case settings: a raw YAML mapping or a typed config section. */
  params?: object;
}

export type FirstStageLoss = LPIPSWithDiscriminator | VQLPIPSWithDiscriminator;

/** Parameters the original accepts but that change nothing here. */
const IGNORED = [
  'pixelloss_weight', // stored but unused by the original
  'n_classes', // only for the original's codebook-usage log
];

const KL_KEYS = ['logvar_init', 'kl_weight'];
const VQ_KEYS = ['codebook_weight'];

const COMMON_KEYS = [
  'disc_start',
  'disc_num_layers',
  'disc_in_channels',
  'disc_ndf',
  'disc_factor',
  'disc_weight',
  'disc_loss',
  'disc_conditional',
  'perceptual_weight',
  'perceptual_loss',
  'perceptual_weights',
  'pixel_loss',
  'use_actnorm',
];

/**
 * The loss a `lossconfig` describes, or null for `torch.nn.Identity` (the inference configs).
 * Targets are matched by their last component: LPIPSWithDiscriminator (KL) or
 * VQLPIPSWithDiscriminator (VQ), whatever the module path.
 */
export function lossFromConfig(config: LossConfig, generator?: Generator): FirstStageLoss | null {
  const className = config.target.split('.').pop();
  const params = (config.params ?? {}) as Record<string, unknown>;
  if (className === 'Identity') return null;
  if (className === 'LPIPSWithDiscriminator') {
    const reader = new ParamReader(config.target, params);
    return new LPIPSWithDiscriminator({
      ...commonOptions(reader, generator),
      logvarInit: reader.number('logvar_init'),
      klWeight: reader.number('kl_weight'),
    });
  }
  if (className === 'VQLPIPSWithDiscriminator') {
    const reader = new ParamReader(config.target, params);
    return new VQLPIPSWithDiscriminator({
      ...commonOptions(reader, generator),
      codebookWeight: reader.number('codebook_weight'),
    });
  }
  throw new Error(
    `lossconfig target "${config.target}" is not supported; expected ...LPIPSWithDiscriminator, ...VQLPIPSWithDiscriminator or torch.nn.Identity`,
  );
}

function commonOptions(reader: ParamReader, generator: Generator | undefined): FirstStageLossOptions {
  if (reader.boolean('use_actnorm') === true) {
    throw new Error(`lossconfig ${reader.target}: use_actnorm is not supported (the discriminator uses BatchNorm)`);
  }
  const discStart = reader.number('disc_start');
  if (discStart === undefined) throw new Error(`lossconfig ${reader.target}: params.disc_start is required`);
  return {
    discStart,
    discNumLayers: reader.number('disc_num_layers'),
    discInChannels: reader.number('disc_in_channels'),
    discNdf: reader.number('disc_ndf'),
    discFactor: reader.number('disc_factor'),
    discWeight: reader.number('disc_weight'),
    discLoss: reader.string('disc_loss') as DiscriminatorLossName | undefined,
    discConditional: reader.boolean('disc_conditional'),
    perceptualWeight: reader.number('perceptual_weight'),
    perceptualLoss: reader.string('perceptual_loss') as PerceptualLossName | undefined,
    perceptualWeights: reader.string('perceptual_weights'),
    pixelLoss: reader.string('pixel_loss') as PixelLossName | undefined,
    generator,
  };
}

/**
 * Typed access to params, rejecting unknown keys up front so that a typo is not silently ignored.
 * The other loss family's keys are let through unread: a typed config section may hold the union
 * of both families' settings, filled with defaults.
 */
class ParamReader {
  constructor(
    readonly target: string,
    private readonly params: Record<string, unknown>,
  ) {
    const known = [...COMMON_KEYS, ...KL_KEYS, ...VQ_KEYS, ...IGNORED];
    const unknown = Object.keys(params).filter((k) => !known.includes(k));
    if (unknown.length > 0) {
      throw new Error(`lossconfig ${target}: unknown params ${unknown.join(', ')}; known: ${known.join(', ')}`);
    }
  }

  number(key: string): number | undefined {
    const value = this.params[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number')
      throw new Error(`lossconfig ${this.target}: ${key} must be a number, got ${JSON.stringify(value)}`);
    return value;
  }

  string(key: string): string | undefined {
    const value = this.params[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string')
      throw new Error(`lossconfig ${this.target}: ${key} must be a string, got ${JSON.stringify(value)}`);
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.params[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean')
      throw new Error(`lossconfig ${this.target}: ${key} must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }
}
