import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import type { Dataset, Sample } from '../../src/data/dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import { horizontalFlip } from '../../src/data/transforms.js';
import type { Generator } from '../../src/tensor/random.js';

/** n samples of [1, 2, 3]: sample i is 100 i + (0..5) row-major; label i % 3; captions ['i', 'i!']. */
function tinyDataset(n: number, extra: (i: number) => Partial<Sample> = () => ({})): Dataset {
  return {
    name: 'tiny',
    length: n,
    channels: 1,
    size: 2,
    get(i: number): Sample {
      return { image: Float32Array.from({ length: 4 }, (_, k) => 100 * i + k), ...extra(i) };
    },
  };
}

/** Each sample's image starts 100 * index (unflipped) or 100 * index + 1 (flipped). */
const idOf = (images: Float32Array, b: number) => Math.floor(images[b * 4] / 100);

describe('DataLoader', () => {
  test('batches [B, C, H, W] with indices; the last batch is short unless dropLast', () => {
    const loader = new DataLoader(tinyDataset(10), { batchSize: 4, shuffle: false });
    assert.equal(loader.length, 3);
    const batches = [...loader.epoch(0)];
    assert.deepEqual(
      batches.map((b) => b.images.shape),
      [
        [4, 1, 2, 2],
        [4, 1, 2, 2],
        [2, 1, 2, 2],
      ],
    );
    assert.deepEqual(batches[2].indices, [8, 9]);
    assert.deepEqual([...batches[1].images.data.subarray(0, 4)], [400, 401, 402, 403]);
    assert.equal(batches[0].labels, undefined);
    assert.equal(batches[0].captions, undefined);
    const dropping = new DataLoader(tinyDataset(10), { batchSize: 4, dropLast: true });
    assert.equal(dropping.length, 2);
    assert.equal([...dropping.epoch(0)].length, 2);
  });

  test('shuffle: a permutation per epoch, fixed by (seed, epoch)', () => {
    const loader = new DataLoader(tinyDataset(50), { batchSize: 8, seed: 7 });
    const order0 = loader.order(0);
    assert.deepEqual(
      [...order0].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.notDeepEqual(
      order0,
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.notDeepEqual(loader.order(1), order0);
    assert.deepEqual(new DataLoader(tinyDataset(50), { batchSize: 8, seed: 7 }).order(0), order0);
    assert.notDeepEqual(new DataLoader(tinyDataset(50), { batchSize: 8, seed: 8 }).order(0), order0);
    const epoch = [...loader.epoch(3)].flatMap((b) => b.indices);
    assert.deepEqual(epoch, loader.order(3));
  });

  test('random flips: about half, the same under a seed, and batch(e, k) equals the epoch iteration', () => {
    const options = { batchSize: 16, randomFlip: true, seed: 1 };
    const loader = new DataLoader(tinyDataset(64), options);
    const batches = [...loader.epoch(2)];
    let flipped = 0;
    for (const batch of batches) {
      batch.indices.forEach((index, b) => {
        const image = batch.images.data.subarray(b * 4, b * 4 + 4);
        const original = tinyDataset(64).get(index).image;
        const isFlipped = image[0] === original[1];
        assert.deepEqual([...image], [...(isFlipped ? horizontalFlip(original, 1, 2, 2) : original)]);
        flipped += Number(isFlipped);
      });
    }
    assert.ok(flipped > 16 && flipped < 48, `${flipped} of 64 flipped`);
    const again = new DataLoader(tinyDataset(64), options);
    assert.deepEqual(again.batch(2, 3).images.data, batches[3].images.data);
    assert.deepEqual(
      [...again.epoch(2, 2)].map((b) => b.indices),
      batches.slice(2).map((b) => b.indices),
    );
    assert.equal(idOf(batches[0].images.data, 0), batches[0].indices[0]);
  });

  test('labels, and one caption per sample picked reproducibly from the candidates', () => {
    const dataset = tinyDataset(40, (i) => ({ label: i % 3, caption: [`${i}`, `${i}!`] }));
    const loader = new DataLoader(dataset, { batchSize: 40, seed: 3 });
    const batch = loader.batch(0, 0);
    assert.deepEqual(
      batch.labels,
      batch.indices.map((i) => i % 3),
    );
    const captions = batch.captions ?? [];
    captions.forEach((caption, b) => assert.ok([`${batch.indices[b]}`, `${batch.indices[b]}!`].includes(caption)));
    assert.ok(captions.some((c) => c.endsWith('!')) && captions.some((c) => !c.endsWith('!')));
    assert.deepEqual(new DataLoader(dataset, { batchSize: 40, seed: 3 }).batch(0, 0).captions, captions);
    const first = new DataLoader(dataset, { batchSize: 40, captionChoice: 'first' }).batch(0, 0);
    assert.ok(first.captions?.every((c) => !c.endsWith('!')));
  });

  test("'combine' joins one to three distinct candidates, reproducibly", () => {
    const dataset = tinyDataset(60, (i) => ({ caption: [`a${i}`, `b${i}`, `c${i}`, `d${i}`] }));
    const loader = new DataLoader(dataset, { batchSize: 60, seed: 2, captionChoice: 'combine' });
    const batch = loader.batch(0, 0);
    const sizes = new Set<number>();
    (batch.captions ?? []).forEach((caption, b) => {
      const parts = caption.split(', ');
      sizes.add(parts.length);
      assert.equal(new Set(parts).size, parts.length);
      for (const part of parts) assert.ok(['a', 'b', 'c', 'd'].map((p) => `${p}${batch.indices[b]}`).includes(part));
    });
    assert.deepEqual([...sizes].sort(), [1, 2, 3]);
    assert.deepEqual(
      new DataLoader(dataset, { batchSize: 60, seed: 2, captionChoice: 'combine' }).batch(0, 0).captions,
      batch.captions,
    );
  });

  test('passes a per-sample generator to the dataset, the same for the same (seed, epoch, position)', () => {
    const draws: number[] = [];
    const dataset: Dataset = {
      ...tinyDataset(6),
      get(i: number, generator?: Generator): Sample {
        draws.push(generator?.nextUint32() ?? -1);
        return tinyDataset(6).get(i);
      },
    };
    const loader = new DataLoader(dataset, { batchSize: 3, seed: 5 });
    loader.batch(1, 1);
    const firstRun = draws.splice(0);
    loader.batch(1, 1);
    assert.deepEqual(draws, firstRun);
    assert.equal(new Set(firstRun).size, 3);
  });

  test('errors', () => {
    assert.throws(() => new DataLoader(tinyDataset(4), { batchSize: 0 }), /batchSize must be a positive integer/);
    assert.throws(() => new DataLoader(tinyDataset(4), { batchSize: 2, seed: -1 }), /seed/);
    assert.throws(
      () => new DataLoader(tinyDataset(4), { batchSize: 8, dropLast: true }),
      /4 samples, fewer than batchSize 8/,
    );
    const loader = new DataLoader(tinyDataset(4), { batchSize: 2 });
    assert.throws(() => loader.batch(0, 2), /batch 2 is out of range \[0, 2\)/);
    assert.throws(() => loader.batch(-1, 0), /epoch must be a non-negative integer/);
    const wrongSize = { ...tinyDataset(4), size: 3 };
    assert.throws(() => new DataLoader(wrongSize, { batchSize: 2 }).batch(0, 0), /has 4 values, expected \[1, 3, 3\]/);
    const someLabels = tinyDataset(4, (i) => (i === 0 ? { label: 1 } : {}));
    assert.throws(() => new DataLoader(someLabels, { batchSize: 4, shuffle: false }).batch(0, 0), /labels for 1 of 4/);
  });
});
