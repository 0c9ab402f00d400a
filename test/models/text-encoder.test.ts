// The text encoder of the text-to-image LDM (CompVis BERTEmbedder / TransformerEmbedder over
// x_transformer's TransformerWrapper + Encoder). Parity: test/fixtures/text_encoder.safetensors,
// written by scripts/make_text_encoder_fixture.py (original key names, float16-exact weights,
// float64 reference outputs and parameter gradients), loads with a strict loadStateDict and agrees
// within 1e-4 relative (max |ours - theirs| / max |theirs|). Then shapes, the tokenizer path,
// errors, gradients and dropout, with a tiny whitespace tokenizer written here.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { Generator, Tensor, grad, noGrad, withBackend } from '../../src/index.js';
import {
  BERTEmbedder,
  BERT_EMBEDDER_DEFAULTS,
  TransformerEmbedder,
  type TransformerEmbedderParams,
} from '../../src/models/encoders/index.js';
import type { TextTokenizer, TokenizerJSON } from '../../src/models/encoders/tokenizer.js';
import { assertParity, readParityFixture } from './parity-helpers.js';

const { tensors, metadata, tensor } = readParityFixture('text_encoder.safetensors');

/** TransformerEmbedder of fixture config `name`, its wrapper loaded strictly with the fixture's weights. */
function loadEmbedder(name: string): TransformerEmbedder {
  const embedder = new TransformerEmbedder(JSON.parse(metadata[`config.${name}`]) as TransformerEmbedderParams).eval();
  const prefix = `${name}.`;
  const weights = new Map([...tensors].filter(([key]) => key.startsWith(prefix) && !/^\w+\.(full|short)\./.test(key)));
  embedder.transformer.loadStateDict(new Map([...weights].map(([key, t]) => [key.slice(prefix.length), t])));
  return embedder;
}

/** Word -> id, with [PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3, as a BERT-style tokenizer lays them out. */
class WhitespaceTokenizer implements TextTokenizer {
  readonly padId = 0;
  readonly #ids: Map<string, number>;

  constructor(readonly words: readonly string[]) {
    this.#ids = new Map(words.map((word, i) => [word, i + 4]));
  }

  get vocabSize(): number {
    return this.words.length + 4;
  }

  encode(text: string, maxLength: number): number[] {
    const pieces = text
      .toLowerCase()
      .split(/\s+/)
      .filter((word) => word !== '')
      .map((word) => this.#ids.get(word) ?? 3);
    const ids = [1, ...pieces.slice(0, maxLength - 2), 2];
    return [...ids, ...new Array<number>(maxLength - ids.length).fill(this.padId)];
  }

  toJSON(): TokenizerJSON {
    return { type: 'whitespace', words: [...this.words] };
  }
}

const tokenizer = new WhitespaceTokenizer(['red', 'blue', 'heart', 'cat', 'face', 'with', 'glasses']);
const TINY = { n_embed: 16, n_layer: 2, vocab_size: 12, max_seq_len: 8, heads: 2, dim_head: 8 };

describe('text transformer parity with the PyTorch x_transformer configuration', () => {
  const gradients = JSON.parse(metadata.gradients) as Record<string, string[]>;
  for (const name of Object.keys(gradients).map((c) => c.split('.')[0])) {
    test(`${name}: the original keys in PyTorch's order`, () => {
      const embedder = new TransformerEmbedder(JSON.parse(metadata[`config.${name}`]) as TransformerEmbedderParams);
      assert.deepEqual([...embedder.transformer.stateDict().keys()], JSON.parse(metadata[`keys.${name}`]));
      assert.ok([...embedder.stateDict().keys()].every((key) => key.startsWith('transformer.')));
    });

    for (const caseName of JSON.parse(metadata[`cases.${name}`]) as string[]) {
      const prefix = `${name}.${caseName}`;
      test(`${prefix}: embeddings and logits`, () => {
        const embedder = loadEmbedder(name);
        const tokens = tensor(`${prefix}.tokens`);
        const embeddings = noGrad(() => embedder.forward(tokens));
        assertParity(embeddings, tensor(`${prefix}.embeddings`), `${prefix} embeddings`);
        assertParity(
          noGrad(() => embedder.transformer.forward(tokens)),
          tensor(`${prefix}.logits`),
          `${prefix} logits`,
        );
      });
    }
  }

  for (const [prefix, keys] of Object.entries(gradients)) {
    test(`${prefix}: parameter gradients of sum(embeddings * probe)`, () => {
      const embedder = loadEmbedder(prefix.split('.')[0]);
      const params = new Map(embedder.transformer.namedParameters());
      const out = embedder.forward(tensor(`${prefix}.tokens`));
      const grads = grad(
        out.mul(tensor(`${prefix}.probe`)).sum(),
        keys.map((key) => params.get(key) as Tensor),
      );
      keys.forEach((key, i) => assertParity(grads[i], tensor(`${prefix}.grad.${key}`), `${prefix} grad ${key}`));
    });
  }

  test('small.full: the js backend gives the same embeddings', () => {
    const out = withBackend('js', () => noGrad(() => loadEmbedder('small').forward(tensor('small.full.tokens'))));
    assertParity(out, tensor('small.full.embeddings'), 'small.full embeddings (js backend)');
  });
});

describe('BERTEmbedder', () => {
  test('CompVis defaults, with the heads, dim_head and ucg_rate extensions', () => {
    assert.deepEqual(BERT_EMBEDDER_DEFAULTS, {
      vocab_size: 30522,
      max_seq_len: 77,
      use_tokenizer: true,
      embedding_dropout: 0,
      heads: 8,
      dim_head: 64,
      ucg_rate: 0,
    });
    const embedder = new BERTEmbedder({ n_embed: 16, n_layer: 1, vocab_size: 12 });
    const shapes = new Map([...embedder.stateDict()].map(([key, t]) => [key, t.shape]));
    assert.deepEqual(shapes.get('transformer.attn_layers.layers.0.1.to_q.weight'), [512, 16]);
    assert.deepEqual(shapes.get('transformer.attn_layers.layers.0.1.to_out.weight'), [16, 512]);
    assert.deepEqual(shapes.get('transformer.attn_layers.layers.1.1.net.0.0.weight'), [64, 16]);
    assert.deepEqual(shapes.get('transformer.pos_emb.emb.weight'), [77, 16]);
    assert.equal(shapes.has('transformer.attn_layers.layers.0.1.to_q.bias'), false);
    assert.equal(embedder.params.ucg_rate, 0);
    assert.equal(new BERTEmbedder({ ...TINY, ucg_rate: 0.1 }).params.ucg_rate, 0.1);
  });

  test('texts -> [N, max_seq_len, n_embed], the same as encodeTokens of the tokenized texts', () => {
    const embedder = new BERTEmbedder(TINY, new Generator(0), tokenizer).eval();
    const texts = ['red heart', 'cat face with glasses', '', 'a very long caption with far too many words'];
    const ids = embedder.tokenize(texts);
    assert.deepEqual(ids.shape, [4, 8]);
    assert.deepEqual(Array.from(ids.data.slice(0, 8)), [1, 4, 6, 2, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(ids.data.slice(16, 24)), [1, 2, 0, 0, 0, 0, 0, 0]);
    const context = noGrad(() => embedder.forward(texts));
    assert.deepEqual(context.shape, [4, 8, 16]);
    assert.deepEqual(context.data, noGrad(() => embedder.encodeTokens(ids)).data);
    assert.deepEqual(noGrad(() => embedder.encode(texts)).data, context.data);
    // A caption's context depends on its own tokens only, not on the others in the batch.
    assert.deepEqual(noGrad(() => embedder.forward(['red heart'])).data, context.data.slice(0, 8 * 16));
  });

  test('BERTEmbedder and TransformerEmbedder with the same weights agree', () => {
    const bert = new BERTEmbedder(TINY, new Generator(1)).eval();
    const plain = new TransformerEmbedder(TINY).eval();
    plain.loadStateDict(bert.stateDict());
    const ids = Tensor.from([
      [1, 5, 6, 2, 0, 0],
      [1, 11, 2, 0, 0, 0],
    ]);
    assert.deepEqual(noGrad(() => plain.encode(ids)).data, noGrad(() => bert.encodeTokens(ids)).data);
  });

  test('the tokenizer may be set after construction', () => {
    const embedder = new BERTEmbedder(TINY);
    assert.equal(embedder.tokenizer, null);
    assert.throws(
      () => embedder.forward(['red heart']),
      /no tokenizer set, cannot encode 1 text\(s\); call setTokenizer/,
    );
    embedder.setTokenizer(tokenizer);
    assert.equal(embedder.tokenizer, tokenizer);
    assert.deepEqual(noGrad(() => embedder.forward(['red heart'])).shape, [1, 8, 16]);
  });

  test('rejects bad settings and inputs', () => {
    const embedder = new BERTEmbedder(TINY, undefined, tokenizer);
    assert.throws(
      () => new BERTEmbedder({ ...TINY, vocab_size: 8 }, undefined, tokenizer),
      /tokenizer's vocabulary \(11 ids\) does not fit vocab_size 8/,
    );
    assert.throws(() => new BERTEmbedder({ ...TINY, use_tokenizer: false }).forward(['x']), /use_tokenizer is false/);
    assert.throws(() => embedder.forward([]), /no texts given/);
    assert.throws(
      () => embedder.encodeTokens(Tensor.from([[1, 12]])),
      /token id 12 at 1 is not an integer in \[0, 12\)/,
    );
    assert.throws(() => embedder.encodeTokens(Tensor.from([[1, 0.5]])), /token id 0.5/);
    assert.throws(() => embedder.encodeTokens(Tensor.zeros([2, 9])), /1 <= T <= 8, got \[2, 9\]/);
    assert.throws(() => embedder.encodeTokens(Tensor.zeros([8])), /expected token ids \[N, L\], got \[8\]/);
    const shortTokenizer: TextTokenizer = {
      ...tokenizer,
      vocabSize: 11,
      padId: 0,
      encode: () => [1, 2],
      toJSON: () => ({ type: 'x' }),
    };
    assert.throws(
      () => new BERTEmbedder(TINY, undefined, shortTokenizer).forward(['x']),
      /the tokenizer gave 2 ids for text 0, expected max_seq_len 8/,
    );
    assert.throws(
      () => new BERTEmbedder({ ...TINY, n_layer: 0 }),
      /BERTEmbedder: n_layer must be a positive integer, got 0/,
    );
    assert.throws(() => new BERTEmbedder({ ...TINY, embedding_dropout: 1 }), /embedding_dropout must be in \[0, 1\)/);
    assert.throws(() => new BERTEmbedder({ ...TINY, ucg_rate: -0.1 }), /ucg_rate must be in \[0, 1\]/);
    assert.throws(() => new TransformerEmbedder({ ...TINY, dim_head: 2.5 }), /TransformerEmbedder: dim_head/);
  });

  test('gradients reach every parameter but to_logits, which the embeddings do not use (as in PyTorch)', () => {
    const embedder = new BERTEmbedder({ ...TINY, embedding_dropout: 0.1 }, new Generator(2), tokenizer);
    const named = embedder.namedParameters();
    const used = named.filter(([key]) => !key.startsWith('transformer.to_logits.'));
    assert.equal(named.length - used.length, 2);
    const out = embedder.forward(['blue cat', 'face with glasses']);
    const grads = grad(
      out.mul(Tensor.randn(out.shape, new Generator(3))).sum(),
      used.map(([, p]) => p),
    );
    used.forEach(([key], i) =>
      assert.ok(
        grads[i].data.some((v) => v !== 0),
        `${key}: gradient is all zeros`,
      ),
    );
    // Only the rows of tokens that occur get a gradient: [PAD] 0, [CLS] 1, [SEP] 2, blue 5, cat 7, ...
    const tokenGrad = grads[used.findIndex(([key]) => key === 'transformer.token_emb.weight')];
    const rowsWithGradient = [...Array(12).keys()].filter((row) =>
      tokenGrad.data.slice(row * 16, (row + 1) * 16).some((v) => v !== 0),
    );
    assert.deepEqual(rowsWithGradient, [0, 1, 2, 5, 7, 8, 9, 10]);
  });

  test('embedding_dropout acts in train mode only', () => {
    const texts = ['red heart', 'cat face'];
    const withDropout = new BERTEmbedder({ ...TINY, embedding_dropout: 0.5 }, new Generator(4), tokenizer);
    const without = new BERTEmbedder(TINY, undefined, tokenizer);
    without.loadStateDict(withDropout.stateDict());
    const reference = noGrad(() => without.forward(texts)).data;
    withDropout.eval();
    assert.deepEqual(noGrad(() => withDropout.forward(texts)).data, reference);
    withDropout.train();
    const first = noGrad(() => withDropout.forward(texts)).data;
    const second = noGrad(() => withDropout.forward(texts)).data;
    assert.notDeepEqual(first, reference);
    assert.notDeepEqual(first, second);
    without.train();
    assert.deepEqual(noGrad(() => without.forward(texts)).data, reference, 'p = 0 is the identity in train mode');
  });
});
