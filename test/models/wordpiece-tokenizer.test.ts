// WordPieceTokenizer: BERT's uncased basic tokenizer, greedy WordPiece, [CLS]/[SEP]/[PAD] framing
// at maxLength, vocab.txt loading with bert-base-uncased's special ids, training on the emoji
// captions, and the JSON round trip. The expected ids of the vocab.txt sentences are those of HF
// BertWordPieceTokenizer (tokenizers 0.22, the BertTokenizerFast of CompVis' BERTEmbedder) for
// the same file; they also follow by hand from the algorithm.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { emojiEntries } from '../../src/data/emoji.js';
import { WordPieceTokenizer, bertWords } from '../../src/models/encoders/index.js';

/** A vocab.txt laid out as bert-base-uncased's: [PAD]=0, [unused*], [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103. */
const BERT_LAYOUT = [
  '[PAD]',
  ...Array.from({ length: 99 }, (_, i) => `[unused${i}]`),
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
];
// prettier-ignore
const SENTENCE_TOKENS = [
  '!', "'", ',', '-', '.', 'a', 'cat', 'sat', 'on', 'the', 'mat', 'hello', 'world', 'un', '##aff', '##able', // 104-119
  'play', '##ing', '##s', 'i', 'don', 't', 'naive', 'cafe', 'new', 'york', 'blue', 'heart', 'smiling', 'face', // 120-133
  'with', 'sun', '##glass', '##es', '你', '好', // 134-139
];
const VOCAB_TXT = [...BERT_LAYOUT, ...SENTENCE_TOKENS].join('\n') + '\n';

/** A tiny vocabulary with specials at 0-4, for hand-checked pieces. */
const TINY = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', '##want', '##ed', 'runn', '##ing', ',', 'a', '##a'];

/** The words of a text, space-separated (a word never holds a space). */
const words = (text: string, lowercase = true): string => bertWords(text, lowercase).join(' ');

describe('bertWords (BERT basic tokenizer)', () => {
  test('lower-cases, strips accents, splits whitespace and every punctuation character', () => {
    assert.equal(words('Hello, World!'), 'hello , world !');
    assert.equal(words('Naïve CAFÉ résumé'), 'naive cafe resume');
    assert.equal(words("don't $5+3=8 a|b ~ok~"), "don ' t $ 5 + 3 = 8 a | b ~ ok ~");
    // Unicode P* punctuation splits off; symbols (So, Sc) stay inside the word.
    assert.equal(words('“quoted”—¿qué? ©2024 5€'), '“ quoted ” — ¿ que ? ©2024 5€');
    assert.equal(words('medium-dark skin tone'), 'medium - dark skin tone');
  });

  test('drops control characters, treats tabs, newlines and Unicode spaces as whitespace', () => {
    assert.equal(words('tab\there\nnew\r\nline\u00a0nbsp\u3000ideo'), 'tab here new line nbsp ideo');
    assert.equal(words('zero\u200bwidth\u0000nul\ufffd\ud800x'), 'zerowidthnulx');
    assert.deepEqual(bertWords('   ', true), []);
    assert.deepEqual(bertWords('', true), []);
  });

  test('CJK ideographs are words alone; each capital sigma lowers to σ; cased keeps case and accents', () => {
    assert.equal(words('你好 mixed中文text'), '你 好 mixed 中 文 text');
    assert.equal(words('ΟΔΟΣ'), 'οδοσ');
    assert.equal(words('Naïve CAFÉ!', false), 'Naïve CAFÉ !');
  });
});

describe('WordPieceTokenizer', () => {
  const tiny = new WordPieceTokenizer(TINY);

  test('greedy longest match with "##" continuations; an unmatched word is one [UNK]', () => {
    assert.deepEqual(tiny.tokenize('unwanted running'), ['un', '##want', '##ed', 'runn', '##ing']);
    assert.deepEqual(tiny.tokenize('UNWANTED, runnxing'), ['un', '##want', '##ed', ',', '[UNK]']);
    assert.deepEqual(tiny.tokenize('aaa wanted'), ['a', '##a', '##a', '[UNK]']);
    // An emoji is not in the alphabet: its whole word is [UNK], the punctuation beside it is not.
    assert.deepEqual(tiny.tokenize('a😀a, un'), ['[UNK]', ',', 'un']);
  });

  test('words longer than maxInputCharsPerWord (100 code points) are [UNK]', () => {
    assert.deepEqual(tiny.tokenize('a'.repeat(100)), ['a', ...Array<string>(99).fill('##a')]);
    assert.deepEqual(tiny.tokenize('a'.repeat(101)), ['[UNK]']);
    const short = new WordPieceTokenizer(TINY, { maxInputCharsPerWord: 3 });
    assert.deepEqual(short.tokenize('aaa aaaa'), ['a', '##a', '##a', '[UNK]']);
  });

  test('encode frames with [CLS] and [SEP], truncates so [SEP] fits, pads to exactly maxLength', () => {
    // [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3; un=5 ##want=6 ##ed=7 runn=8 ##ing=9
    assert.deepEqual(tiny.encode('unwanted running', 9), [2, 5, 6, 7, 8, 9, 3, 0, 0]);
    assert.deepEqual(tiny.encode('unwanted running', 7), [2, 5, 6, 7, 8, 9, 3]);
    assert.deepEqual(tiny.encode('unwanted running', 5), [2, 5, 6, 7, 3]);
    assert.deepEqual(tiny.encode('unwanted running', 3), [2, 5, 3]);
    assert.deepEqual(tiny.encode('unwanted running', 2), [2, 3]);
    assert.deepEqual(tiny.encode('', 4), [2, 3, 0, 0]);
    assert.throws(() => tiny.encode('un', 1), /maxLength.*>= 2, got 1/);
    assert.throws(() => tiny.encode('un', 2.5), /maxLength/);
  });

  test('decode joins pieces, glues "##" continuations, drops [PAD]/[CLS]/[SEP], keeps [UNK]', () => {
    assert.equal(tiny.decode(tiny.encode('Unwanted, RUNNING', 12)), 'unwanted , running');
    assert.equal(tiny.decode([2, 5, 1, 8, 9, 3, 0]), 'un [UNK] running');
    assert.equal(tiny.decode([]), '');
    assert.throws(() => tiny.decode([2, 13]), /id 13 is not in \[0, 13\)/);
    assert.throws(() => tiny.decode([-1]), /id -1/);
  });

  test('fromVocab: id = line number, specials found by name (bert-base-uncased layout)', () => {
    const bert = WordPieceTokenizer.fromVocab(VOCAB_TXT);
    assert.equal(bert.vocabSize, 140);
    assert.deepEqual([bert.padId, bert.unkId, bert.clsId, bert.sepId], [0, 100, 101, 102]);
    // CRLF line ends, a byte-order mark and no final newline read the same.
    const crlf = WordPieceTokenizer.fromVocab('\ufeff' + VOCAB_TXT.trimEnd().replaceAll('\n', '\r\n'));
    assert.deepEqual(crlf.toJSON(), bert.toJSON());
    // A token listed twice maps to its last line, as HF reads vocab.txt.
    const twice = WordPieceTokenizer.fromVocab('[PAD]\n[UNK]\n[CLS]\n[SEP]\nhi\nhi\n');
    assert.deepEqual(twice.encode('hi', 3), [2, 5, 3]);
    assert.throws(() => WordPieceTokenizer.fromVocab('[PAD]\n[UNK]\n[SEP]\n'), /has no \[CLS\]/);
  });

  test('vocab.txt sentences give the ids HF BertTokenizerFast gives for the same file', () => {
    const bert = WordPieceTokenizer.fromVocab(VOCAB_TXT);
    const expected: [string, number[]][] = [
      ['Hello, World!', [101, 115, 106, 116, 104, 102, 0, 0, 0, 0, 0, 0]],
      ['The cat sat on the mat.', [101, 113, 110, 111, 112, 113, 114, 108, 102, 0, 0, 0]],
      ['unaffable', [101, 117, 118, 119, 102, 0, 0, 0, 0, 0, 0, 0]],
      ['Naïve CAFÉ in New York', [101, 126, 127, 100, 128, 129, 102, 0, 0, 0, 0, 0]],
      ['smiling face with sunglasses', [101, 132, 133, 134, 135, 136, 137, 102, 0, 0, 0, 0]],
      ["I don't play!", [101, 123, 124, 105, 125, 120, 104, 102, 0, 0, 0, 0]],
      ['blue-heart playing cats', [101, 130, 107, 131, 120, 121, 110, 122, 102, 0, 0, 0]],
      ['你好 😀', [101, 138, 139, 100, 102, 0, 0, 0, 0, 0, 0, 0]],
      ['Hello, World! The cat sat on the mat.', [101, 115, 106, 116, 104, 113, 110, 111, 112, 113, 114, 102]],
    ];
    for (const [text, ids] of expected) assert.deepEqual(bert.encode(text, 12), ids, text);
    assert.equal(bert.decode(expected[4][1]), 'smiling face with sunglasses');
  });

  test('toJSON / fromJSON round-trip exactly; fromJSON rejects bad input clearly', () => {
    const bert = WordPieceTokenizer.fromVocab(VOCAB_TXT);
    const json = JSON.parse(JSON.stringify(bert.toJSON()));
    assert.deepEqual(Object.keys(json), ['type', 'lowercase', 'maxInputCharsPerWord', 'vocab']);
    const loaded = WordPieceTokenizer.fromJSON(json);
    assert.deepEqual(loaded.toJSON(), bert.toJSON());
    assert.deepEqual(loaded.encode('Hello, cats!', 8), bert.encode('Hello, cats!', 8));
    const cased = WordPieceTokenizer.fromJSON({ ...json, lowercase: false, maxInputCharsPerWord: 7 });
    assert.deepEqual(cased.settings, { lowercase: false, maxInputCharsPerWord: 7 });

    const bad: [unknown, RegExp][] = [
      [null, /expected an object, got null/],
      [[1], /expected an object, got an array/],
      [{ ...json, type: 'bpe' }, /type must be 'wordpiece', got bpe/],
      [{ ...json, merges: [] }, /unknown keys merges/],
      [{ ...json, vocab: 'a\nb' }, /vocab must be an array of strings/],
      [{ ...json, vocab: ['[PAD]', 7] }, /vocab\[1\] is number/],
      [{ ...json, vocab: ['[PAD]', '[UNK]', '[CLS]'] }, /has no \[SEP\]/],
      [{ ...json, lowercase: 'yes' }, /lowercase must be a boolean/],
      [{ type: 'wordpiece', lowercase: true, vocab: json.vocab }, /missing maxInputCharsPerWord/],
      [{ ...json, maxInputCharsPerWord: 0 }, /maxInputCharsPerWord must be an integer >= 1, got 0/],
    ];
    for (const [input, message] of bad) {
      assert.throws(() => WordPieceTokenizer.fromJSON(input), message, JSON.stringify(input));
    }
  });
});

describe('WordPieceTokenizer.train', () => {
  test('a hand-checked corpus: characters, then merges by frequency, ties to the lower ids', () => {
    // Words: low x3, lower x1, newest x2. Pairs: (l,##o) 4 and (##o,##w) 4 tie: l has the lower id.
    const trained = WordPieceTokenizer.train(['low low low lower newest newest'], { vocabSize: 100 });
    const characters = ['e', 'l', 'n', 'o', 'r', 's', 't', 'w'];
    assert.deepEqual(trained.toJSON().vocab, [
      ...['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'],
      ...characters,
      ...characters.map((c) => '##' + c),
      // (low,##e) and (##e,##r) are seen once only, below minFrequency 2.
      ...['lo', 'low', 'ne', '##es', '##wes', 'newes', 'newest'],
    ]);
    assert.deepEqual(trained.tokenize('lowest newer'), ['low', '##es', '##t', 'ne', '##w', '##e', '##r']);
    const once = WordPieceTokenizer.train(['low low low lower newest newest'], { vocabSize: 100, minFrequency: 1 });
    assert.deepEqual(once.tokenize('lower'), ['lower']);
    assert.equal(WordPieceTokenizer.train(['low low low lower newest newest'], { vocabSize: 24 }).vocabSize, 24);
  });

  test('punctuation gets no "##" form; every seen character still encodes without [UNK]', () => {
    const trained = WordPieceTokenizer.train(['a-b, c!'], { vocabSize: 50 });
    assert.deepEqual(trained.toJSON().vocab.slice(5), ['!', ',', '-', 'a', 'b', 'c', '##a', '##b', '##c']);
    assert.deepEqual(trained.tokenize('cab!'), ['c', '##a', '##b', '!']);
    assert.deepEqual(trained.tokenize('cad'), ['[UNK]']);
  });

  test('rejects a vocabSize below the special and character tokens, and bad options', () => {
    assert.throws(
      () => WordPieceTokenizer.train(['abc'], { vocabSize: 10 }),
      /vocabSize 10 is below the 11 special and character tokens/,
    );
    assert.throws(() => WordPieceTokenizer.train(['abc'], { vocabSize: 100, minFrequency: 0 }), /minFrequency/);
    assert.throws(() => WordPieceTokenizer.train(['abc'], { vocabSize: 1.5 }), /vocabSize must be an integer/);
  });

  test('on the emoji captions: deterministic, order-free, fast, frequent words whole', () => {
    const captions = emojiEntries('train').flatMap((entry) => entry.captions);
    const start = performance.now();
    const trained = WordPieceTokenizer.train(captions, { vocabSize: 2000 });
    const seconds = (performance.now() - start) / 1000;
    assert.ok(seconds < 5, `training on ${captions.length} captions took ${seconds.toFixed(2)} s`);

    const vocab = trained.toJSON().vocab;
    assert.equal(vocab.length, 2000);
    assert.deepEqual(vocab.slice(0, 5), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    // Ties go by id, never by input order: the reversed captions give the same vocabulary.
    assert.deepEqual(WordPieceTokenizer.train([...captions].reverse(), { vocabSize: 2000 }).toJSON().vocab, vocab);

    for (const word of ['face', 'heart', 'cat', 'blue', 'smiling', 'skin', 'tone', 'flag', 'hand', 'woman', 'food']) {
      assert.deepEqual(trained.tokenize(word), [word]);
    }
    const unknown = emojiEntries('test')
      .flatMap((entry) => entry.captions)
      .filter((caption) => trained.tokenize(caption).includes('[UNK]'));
    assert.deepEqual(unknown, []);
    assert.deepEqual(trained.tokenize('Cat face with glasses'), ['cat', 'face', 'with', 'glass', '##es']);
  });
});
