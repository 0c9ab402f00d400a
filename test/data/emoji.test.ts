import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { emoji, emojiCategories, emojiEntries } from '../../src/data/emoji.js';

describe('emoji', () => {
  const train = emoji();
  const held = emoji({ split: 'test' });
  const all = emoji({ split: 'all' });

  test('3,786 images: 3,415 train / 371 test, ten category labels', () => {
    assert.deepEqual([train.length, held.length, all.length], [3415, 371, 3786]);
    assert.deepEqual([train.name, held.name], ['emoji/train', 'emoji/test']);
    assert.deepEqual(train.classNames, emojiCategories());
    assert.equal(train.classNames?.length, 10);
    assert.equal(train.classNames?.[0], 'Smileys & Emotion');
  });

  test('the first emoji: grinning face, RGB 64x64 in [-1, 1], white background', () => {
    assert.deepEqual([all.channels, all.size], [3, 64]);
    const { image, label, caption } = all.get(0);
    assert.equal(image.length, 3 * 64 * 64);
    assert.ok(image.every((v) => v >= -1 && v <= 1));
    assert.deepEqual([image[0], image[4096], image[8192]], [1, 1, 1]); // transparent corner over white
    assert.equal(label, 0);
    assert.ok(Array.isArray(caption));
    assert.equal(caption[0], 'grinning face');
    for (const word of ['grinning', 'smile', 'happy', 'Smileys & Emotion']) assert.ok(caption.includes(word), word);
  });

  test('skin-tone variations follow their emoji with CLDR-style names', () => {
    const names = emojiEntries('all').map((entry) => entry.captions[0]);
    const wave = names.indexOf('waving hand sign');
    assert.ok(wave >= 0);
    assert.deepEqual(names.slice(wave + 1, wave + 6), [
      'waving hand sign: light skin tone',
      'waving hand sign: medium-light skin tone',
      'waving hand sign: medium skin tone',
      'waving hand sign: medium-dark skin tone',
      'waving hand sign: dark skin tone',
    ]);
    assert.ok(names.includes('couple with heart: man, man, light skin tone, medium skin tone'));
    assert.deepEqual(all.get(wave + 3).caption, emojiEntries('all')[wave + 3].captions);
    // The test split is every 10th emoji with its variations: none is in both splits.
    const trainNames = new Set(emojiEntries('train').map((entry) => entry.captions[0]));
    const testEntries = emojiEntries('test');
    assert.equal(testEntries.length, held.length);
    assert.ok(testEntries.every((entry) => !trainNames.has(entry.captions[0])));
    assert.equal(testEntries[0].captions[0], names[9]);
  });

  test('size 32 is the area downscale of the 64 px image; channels 1 is luma', () => {
    const big = held.get(3).image;
    const small = emoji({ split: 'test', size: 32 }).get(3).image;
    assert.equal(small.length, 3 * 32 * 32);
    const mean = (big[64 * 10 + 20] + big[64 * 10 + 21] + big[64 * 11 + 20] + big[64 * 11 + 21]) / 4;
    assert.ok(Math.abs(small[32 * 5 + 10] - mean) < 1e-6);
    const gray = emoji({ split: 'test', channels: 1 }).get(3).image;
    assert.equal(gray.length, 64 * 64);
    const at = 64 * 30 + 30;
    assert.ok(Math.abs(gray[at] - (0.299 * big[at] + 0.587 * big[4096 + at] + 0.114 * big[8192 + at])) < 1e-6);
  });

  test('get returns a fresh array each time', () => {
    const first = held.get(0);
    first.image.fill(0);
    assert.equal(held.get(0).image[0], 1);
  });
});
