// Optimizer and EMA state as safetensors records plus one JSON string, so that a trainer can
// save weights, optimizer and EMA in one file: buffers go in as float32 tensors, everything
// else (step counts, hyper-parameters, names) in the file's string metadata. JSON numbers
// round-trip doubles exactly, and the buffers are float32 already, so a resumed run
// continues bit for bit.
import type { TensorRecord } from '../io/safetensors.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { EMAStateDict } from './ema.js';
import type { HyperValue, OptimizerStateDict, ParamGroupState, ParamState } from './optimizer.js';

const OPTIMIZER_FORMAT = 'latent-diffusion.optimizer/1';
const EMA_FORMAT = 'latent-diffusion.ema/1';

export type TensorRecords = Map<string, TensorRecord> | Record<string, TensorRecord>;

/** Tensors named `${prefix}state.<param index>.<buffer>` and the rest as JSON. Shares the buffers. */
export function optimizerStateToTensors(
  state: OptimizerStateDict,
  prefix = 'optimizer.',
): { tensors: Map<string, TensorRecord>; json: string } {
  const tensors = new Map<string, TensorRecord>();
  const entries: Record<string, { step: number; shape: number[]; buffers: string[] }> = {};
  for (const [index, s] of Object.entries(state.state)) {
    const names = Object.keys(s.buffers).sort();
    for (const name of names)
      tensors.set(`${prefix}state.${index}.${name}`, { shape: [...s.shape], data: s.buffers[name] });
    entries[index] = { step: s.step, shape: s.shape, buffers: names };
  }
  const json = JSON.stringify({
    format: OPTIMIZER_FORMAT,
    optimizer: state.optimizer,
    paramGroups: state.paramGroups,
    state: entries,
  });
  return { tensors, json };
}

/** The inverse of optimizerStateToTensors; checks that every tensor the JSON names is there and well shaped. */
export function optimizerStateFromTensors(
  tensors: TensorRecords,
  json: string,
  prefix = 'optimizer.',
): OptimizerStateDict {
  const where = 'optimizerStateFromTensors';
  const meta = parseJson(json, where);
  if (meta.format !== OPTIMIZER_FORMAT) {
    throw new Error(`${where}: expected format "${OPTIMIZER_FORMAT}", got ${JSON.stringify(meta.format)}`);
  }
  if (typeof meta.optimizer !== 'string') throw new Error(`${where}: "optimizer" must be a string`);
  if (!Array.isArray(meta.paramGroups)) throw new Error(`${where}: "paramGroups" must be an array`);
  const paramGroups = meta.paramGroups.map((g: unknown, i: number) => checkGroup(g, `${where}: paramGroups[${i}]`));
  if (!isObject(meta.state)) throw new Error(`${where}: "state" must be an object`);

  const lookup = asMap(tensors);
  const state: Record<number, ParamState> = {};
  const used = new Set<string>();
  for (const [index, entry] of Object.entries(meta.state)) {
    const what = `${where}: state of parameter ${index}`;
    if (!isObject(entry) || !isShape(entry.shape) || !Array.isArray(entry.buffers) || typeof entry.step !== 'number') {
      throw new Error(`${what} must be {step, shape, buffers}`);
    }
    const buffers: Record<string, Float32Array> = {};
    for (const name of entry.buffers) {
      const key = `${prefix}state.${index}.${String(name)}`;
      buffers[name] = takeTensor(lookup, key, entry.shape, what);
      used.add(key);
    }
    state[Number(index)] = { step: entry.step, shape: [...entry.shape], buffers };
  }
  for (const key of lookup.keys()) {
    if (key.startsWith(`${prefix}state.`) && !used.has(key)) {
      throw new Error(`${where}: tensor "${key}" is not described by the optimizer JSON`);
    }
  }
  return { optimizer: meta.optimizer, paramGroups, state };
}

/**
 * The averaged weights as tensors and the rest as JSON. Tensors are named as LitEma names its
 * buffers (`${prefix}` + the parameter name without dots, as in CompVis checkpoints'
 * `model_ema.*` keys) when the EMA has names, else `${prefix}<index>`. Shares the buffers.
 */
export function emaStateToTensors(
  state: EMAStateDict,
  prefix = 'model_ema.',
): { tensors: Map<string, TensorRecord>; json: string } {
  const keys = emaTensorNames(state, prefix);
  const tensors = new Map<string, TensorRecord>();
  keys.forEach((key, k) => {
    if (tensors.has(key)) throw new Error(`emaStateToTensors: two parameters map to the tensor name "${key}"`);
    tensors.set(key, { shape: [...state.shapes[k]], data: state.shadow[k] });
  });
  const { decay, useNumUpdates, numUpdates, names, shapes } = state;
  const json = JSON.stringify({ format: EMA_FORMAT, decay, useNumUpdates, numUpdates, names, shapes });
  return { tensors, json };
}

export function emaStateFromTensors(tensors: TensorRecords, json: string, prefix = 'model_ema.'): EMAStateDict {
  const where = 'emaStateFromTensors';
  const meta = parseJson(json, where);
  if (meta.format !== EMA_FORMAT) {
    throw new Error(`${where}: expected format "${EMA_FORMAT}", got ${JSON.stringify(meta.format)}`);
  }
  const { decay, useNumUpdates, numUpdates, names, shapes } = meta;
  if (typeof decay !== 'number' || typeof useNumUpdates !== 'boolean' || typeof numUpdates !== 'number') {
    throw new Error(`${where}: decay, useNumUpdates and numUpdates must be a number, a boolean and a number`);
  }
  if (!Array.isArray(shapes) || !shapes.every(isShape))
    throw new Error(`${where}: "shapes" must be an array of shapes`);
  if (names !== null && !(Array.isArray(names) && names.length === shapes.length && names.every(isString))) {
    throw new Error(`${where}: "names" must be null or one string per shape`);
  }
  const state = { decay, useNumUpdates, numUpdates, names, shapes, shadow: [] as Float32Array[] };
  const lookup = asMap(tensors);
  state.shadow = emaTensorNames(state, prefix).map((key, k) =>
    takeTensor(lookup, key, shapes[k], `${where}: average of parameter ${k}`),
  );
  return state;
}

function emaTensorNames(state: Pick<EMAStateDict, 'names' | 'shapes'>, prefix: string): string[] {
  return state.shapes.map((_, k) => prefix + (state.names === null ? String(k) : state.names[k].replaceAll('.', '')));
}

function takeTensor(lookup: Map<string, TensorRecord>, key: string, shape: number[], what: string): Float32Array {
  const record = lookup.get(key);
  if (record === undefined) throw new Error(`${what}: tensor "${key}" is missing`);
  if (!shapesEqual(record.shape, shape) || record.data.length !== record.shape.reduce((a, b) => a * b, 1)) {
    throw new Error(`${what}: tensor "${key}" has shape ${formatShape(record.shape)}, expected ${formatShape(shape)}`);
  }
  return record.data;
}

function checkGroup(value: unknown, where: string): ParamGroupState {
  if (!isObject(value)) throw new Error(`${where} must be an object`);
  const { hyper, initialLr, params, names } = value;
  if (!isObject(hyper) || !Object.values(hyper).every(isHyperValue)) {
    throw new Error(`${where}.hyper must map names to numbers, booleans or number arrays`);
  }
  if (typeof initialLr !== 'number') throw new Error(`${where}.initialLr must be a number`);
  if (!Array.isArray(params) || !params.every(Number.isInteger)) throw new Error(`${where}.params must be indices`);
  if (names !== null && !(Array.isArray(names) && names.every(isString))) {
    throw new Error(`${where}.names must be null or strings`);
  }
  return { hyper: hyper as Record<string, HyperValue>, initialLr, params, names };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- validated field by field by the callers
function parseJson(json: string, where: string): Record<string, any> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new Error(`${where}: the state JSON does not parse: ${(err as Error).message}`);
  }
  if (!isObject(value)) throw new Error(`${where}: the state JSON must be an object`);
  return value;
}

function asMap(tensors: TensorRecords): Map<string, TensorRecord> {
  return tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isInteger(d) && d >= 0);
}

function isHyperValue(value: unknown): value is HyperValue {
  if (Array.isArray(value)) return value.every((v) => typeof v === 'number');
  return typeof value === 'number' || typeof value === 'boolean';
}
