// Shared by the model parity tests: a fixture file written by a scripts/make_*_fixture.py (tensors
// under their key names, settings as JSON strings in the metadata) and the comparison of our
// outputs with its float64 reference ones.
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';

import { SafetensorsFile, type TensorRecord } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertRelativeClose } from './losses-helpers.js';

export interface ParityFixture {
  /** The file's path, for messages. */
  readonly file: string;
  readonly tensors: Map<string, TensorRecord>;
  readonly metadata: Record<string, string>;
  /** The tensor stored under `key`; fails the test when the file lacks it. */
  readonly tensor: (key: string) => Tensor;
}

/** test/fixtures/`name`, read whole. */
export function readParityFixture(name: string): ParityFixture {
  const file = fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
  const reader = SafetensorsFile.open(file);
  const tensors = new Map(reader.keys().map((key) => [key, reader.read(key)]));
  const metadata = reader.metadata;
  reader.close();
  return {
    file,
    tensors,
    metadata,
    tensor: (key) => {
      const record = tensors.get(key);
      assert.ok(record !== undefined, `fixture tensor ${key} missing`);
      return new Tensor(record.data, record.shape);
    },
  };
}

/**
 * Ours against the reference within `tolerance` of max |theirs|; a reference of zeros only would
 * make that vacuous, so it fails.
 */
export function assertParity(ours: Tensor, theirs: Tensor, what: string, tolerance = 1e-4): void {
  assert.ok(
    theirs.data.some((value) => value !== 0),
    `${what}: the reference is all zeros`,
  );
  assertRelativeClose(what, ours, theirs, tolerance);
}
