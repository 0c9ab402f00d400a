// The EMA weights file of a training checkpoint: the averaged weights under the model's own
// parameter names (so the file loads as a model), and the EMA's state in the metadata (so a
// resumed run continues the average exactly).
import { SafetensorsFile, writeSafetensors, type TensorRecord } from '../io/safetensors.js';
import type { EMAStateDict } from '../optim/ema.js';

const EMA_FORMAT = 'latent-diffusion.ema-weights/1';

/**
 * Writes the EMA's averaged weights under their parameter names, so that the file is a model on
 * its own; `extra` adds the tensors the EMA does not track (e.g. a frozen first stage), and
 * `metadata` the run's own entries.
 */
export function writeEmaWeights(
  file: string,
  ema: EMAStateDict,
  metadata: Record<string, string>,
  extra: ReadonlyMap<string, TensorRecord> = new Map(),
): void {
  if (ema.names === null) throw new Error('writeEmaWeights: the EMA must track named parameters');
  const tensors = new Map<string, TensorRecord>(extra);
  ema.names.forEach((name, k) => tensors.set(name, { shape: ema.shapes[k], data: ema.shadow[k] }));
  const { decay, useNumUpdates, numUpdates, names } = ema;
  writeSafetensors(file, tensors, {
    ...metadata,
    format: EMA_FORMAT,
    // The names in the EMA's order (the file sorts its tensors by name).
    ema: JSON.stringify({ decay, useNumUpdates, numUpdates, names }),
  });
}

/** The EMA state of an ema.safetensors file. */
export function readEmaWeights(file: string): EMAStateDict {
  const reader = SafetensorsFile.open(file);
  try {
    if (reader.metadata.format !== EMA_FORMAT || reader.metadata.ema === undefined) {
      throw new Error(`${file} is not an EMA weights file (format ${JSON.stringify(reader.metadata.format)})`);
    }
    const { decay, useNumUpdates, numUpdates, names } = JSON.parse(reader.metadata.ema) as EMAStateDict;
    if (!Array.isArray(names)) throw new Error(`${file}: the EMA metadata lacks the parameter names`);
    const records = names.map((name) => reader.read(name));
    return {
      decay,
      useNumUpdates,
      numUpdates,
      names,
      shapes: records.map((r) => [...r.shape]),
      shadow: records.map((r) => r.data),
    };
  } finally {
    reader.close();
  }
}
