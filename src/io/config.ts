// Configuration files in the CompVis layout, read from YAML or JSON.
//
// The original configs load as they are:
//
//   model:
//     base_learning_rate: 4.5e-06
//     target: ldm.models.autoencoder.AutoencoderKL
//     params: { embed_dim: 4, ddconfig: {...}, lossconfig: { target: ..., params: {...} } }
//   data:
//     target: main.DataModuleFromConfig
//     params: { batch_size: 12, train: {...}, validation: {...} }
//   lightning: { ... }
//
// This file reads the text, checks the top-level layout, and offers `readSection`, which
// turns one mapping into a typed object from a defaults constant and a table of field kinds.
// Each model family types its own `params` with it. Keys stay snake_case, exactly as in the
// files, so a config reads the same in YAML and in TypeScript. An unknown key is an error
// that names the key, where it sits and the file, with a suggestion for near misses.
import * as fs from 'node:fs';
import { parse as parseYaml } from 'yaml';

export type ConfigValue = null | boolean | number | string | ConfigValue[] | ConfigObject;
export interface ConfigObject {
  [key: string]: ConfigValue;
}

/** Where a value sits: the file (or other source) and the dotted path inside it. */
export interface ConfigPlace {
  source: string;
  path: string;
}

export function childPlace(place: ConfigPlace, key: string): ConfigPlace {
  return { source: place.source, path: place.path === '' ? key : `${place.path}.${key}` };
}

export class ConfigError extends Error {
  constructor(place: ConfigPlace, message: string) {
    const at = place.path === '' ? '' : ` at "${place.path}"`;
    super(`config ${place.source}${at}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Parses YAML (of which JSON is a subset); `.json` sources go through JSON.parse for its stricter errors. */
export function parseConfigText(text: string, source: string): ConfigObject {
  const root: ConfigPlace = { source, path: '' };
  let value: unknown;
  try {
    value = source.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(root, `cannot parse: ${(err as Error).message}`);
  }
  return asObject(value ?? {}, root);
}

export function readConfigFile(path: string): ConfigObject {
  return parseConfigText(fs.readFileSync(path, 'utf8'), path);
}

export function asObject(value: unknown, place: ConfigPlace): ConfigObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(place, `expected a mapping, got ${describe(value)}`);
  }
  return value as ConfigObject;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list (${JSON.stringify(value)})`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

// ---- typed sections ----

/** The kind of value a field accepts. `object` keeps a nested mapping as is, for a later reader. */
export type FieldKind =
  | 'number'
  | 'integer'
  | 'boolean'
  | 'string'
  | 'string?'
  | 'integer?'
  | 'number[]'
  | 'number[]?'
  | 'integer[]'
  | 'string[]'
  | 'object'
  | 'object?'
  | 'object|string?';

/** One FieldKind per key of T: a missing or extra entry is a compile error. */
export type FieldKinds<T> = { readonly [K in keyof T]-?: FieldKind };

function checkKind(value: unknown, kind: FieldKind, place: ConfigPlace): void {
  const isInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v);
  const ok = (() => {
    switch (kind) {
      case 'number':
        return typeof value === 'number' && Number.isFinite(value);
      case 'integer':
        return isInt(value);
      case 'boolean':
        return typeof value === 'boolean';
      case 'string':
        return typeof value === 'string';
      case 'string?':
        return value === null || typeof value === 'string';
      case 'integer?':
        return value === null || isInt(value);
      case 'number[]':
        return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
      case 'number[]?':
        return (
          value === null || (Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v)))
        );
      case 'integer[]':
        return Array.isArray(value) && value.every(isInt);
      case 'string[]':
        return Array.isArray(value) && value.every((v) => typeof v === 'string');
      case 'object':
        return value !== null && typeof value === 'object' && !Array.isArray(value);
      case 'object?':
        return value === null || (typeof value === 'object' && !Array.isArray(value));
      case 'object|string?':
        return value === null || typeof value === 'string' || (typeof value === 'object' && !Array.isArray(value));
    }
  })();
  if (!ok)
    throw new ConfigError(
      place,
      `expected ${kind.replace('?', ' or null').replace('|', ' or ')}, got ${describe(value)}`,
    );
}

/**
 * Reads a mapping into a T: every key must be one of the defaults' keys and hold a value of
 * its kind; missing keys take the default. `raw` undefined or null gives the defaults.
 */
export function readSection<T extends object>(raw: unknown, defaults: T, kinds: FieldKinds<T>, place: ConfigPlace): T {
  const given = raw === undefined || raw === null ? {} : asObject(raw, place);
  const known = Object.keys(defaults);
  const out: Record<string, unknown> = structuredClone(defaults) as Record<string, unknown>;
  for (const [key, value] of Object.entries(given)) {
    if (!known.includes(key)) throw unknownKey(key, known, place);
    checkKind(value, kinds[key as keyof T], childPlace(place, key));
    out[key] = structuredClone(value);
  }
  return out as T;
}

export function unknownKey(key: string, known: readonly string[], place: ConfigPlace): ConfigError {
  const suggestion = didYouMean(key, known);
  const hint = suggestion === null ? `known keys: ${known.join(', ')}` : `did you mean "${suggestion}"?`;
  return new ConfigError(place, `unknown key "${key}" (${hint})`);
}

/** The closest known key within an edit distance of max(2, a third of the key's length), or null. */
export function didYouMean(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

// ---- the CompVis top-level layout ----

/** A `{ target, params }` node: the class to build (a Python dotted path) and its arguments. */
export interface TargetNode {
  target: string;
  params: ConfigObject;
}

export function readTargetNode(raw: unknown, place: ConfigPlace): TargetNode {
  const node = readSection(
    raw,
    { target: '', params: {} as ConfigObject },
    { target: 'string', params: 'object?' },
    place,
  );
  if (node.target === '') throw new ConfigError(place, 'missing "target"');
  return { target: node.target, params: node.params ?? {} };
}

/** The class name of a target: `ldm.models.autoencoder.AutoencoderKL` -> `AutoencoderKL`. */
export function targetClass(target: string): string {
  return target.slice(target.lastIndexOf('.') + 1);
}

/** `data.params` of main.DataModuleFromConfig; datasets stay as target nodes for the data layer. */
export interface DataParams {
  batch_size: number;
  num_workers: number | null;
  wrap: boolean;
  train: ConfigObject | null;
  validation: ConfigObject | null;
  test: ConfigObject | null;
  predict: ConfigObject | null;
  shuffle_test_loader: boolean;
  use_worker_init_fn: boolean;
  shuffle_val_dataloader: boolean;
}

export const DATA_PARAMS_DEFAULTS: DataParams = {
  batch_size: 1,
  num_workers: null,
  wrap: false,
  train: null,
  validation: null,
  test: null,
  predict: null,
  shuffle_test_loader: false,
  use_worker_init_fn: false,
  shuffle_val_dataloader: false,
};

const DATA_PARAMS_KINDS: FieldKinds<DataParams> = {
  batch_size: 'integer',
  num_workers: 'integer?',
  wrap: 'boolean',
  train: 'object?',
  validation: 'object?',
  test: 'object?',
  predict: 'object?',
  shuffle_test_loader: 'boolean',
  use_worker_init_fn: 'boolean',
  shuffle_val_dataloader: 'boolean',
};

/** A whole config file: `model` (its params typed later by the model family), `data`, `lightning`. */
export interface CompVisConfig {
  source: string;
  model: { target: string; base_learning_rate: number; params: ConfigObject };
  data: { target: string; params: DataParams } | null;
  /** Trainer settings, kept as they are for the training loop. */
  lightning: ConfigObject | null;
}

/** Checks the top-level layout of a parsed config. */
export function readCompVisConfig(raw: ConfigObject, source: string): CompVisConfig {
  const root: ConfigPlace = { source, path: '' };
  const top = readSection(
    raw,
    { model: null as ConfigObject | null, data: null as ConfigObject | null, lightning: null as ConfigObject | null },
    { model: 'object?', data: 'object?', lightning: 'object?' },
    root,
  );
  if (top.model === null) throw new ConfigError(root, 'missing "model"');
  const modelPlace = childPlace(root, 'model');
  const model = readSection(
    top.model,
    { target: '', base_learning_rate: 4.5e-6, params: {} as ConfigObject },
    { target: 'string', base_learning_rate: 'number', params: 'object?' },
    modelPlace,
  );
  if (model.target === '') throw new ConfigError(modelPlace, 'missing "target"');
  let data: CompVisConfig['data'] = null;
  if (top.data !== null) {
    const dataPlace = childPlace(root, 'data');
    const node = readTargetNode(top.data, dataPlace);
    data = {
      target: node.target,
      params: readSection(node.params, DATA_PARAMS_DEFAULTS, DATA_PARAMS_KINDS, childPlace(dataPlace, 'params')),
    };
  }
  return {
    source,
    model: { target: model.target, base_learning_rate: model.base_learning_rate, params: model.params ?? {} },
    data,
    lightning: top.lightning,
  };
}

/** Reads and checks a config file's top-level layout. */
export function loadCompVisConfig(path: string): CompVisConfig {
  return readCompVisConfig(readConfigFile(path), path);
}
