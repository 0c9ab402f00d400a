// The public API as a user imports it (the package name resolves to dist/ through package.json
// "exports"): a small conv net trains end to end, its weights round-trip through a safetensors
// file, and a training loop's resident memory stays flat.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import {
  F,
  Generator,
  Tensor,
  getBackend,
  grad,
  nn,
  noGrad,
  optim,
  readSafetensors,
  writeSafetensors,
  generate,
  loadLdmWeights,
  diffusion,
} from 'latent-diffusion';

class TinyNet extends nn.Module {
  readonly conv: nn.Conv2d;
  readonly norm: nn.GroupNorm;
  readonly head: nn.Linear;

  constructor(generator: Generator) {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(3, 8, 3, { padding: 1, generator }));
    this.norm = this.registerModule('norm', new nn.GroupNorm(4, 8));
    this.head = this.registerModule('head', new nn.Linear(8, 2, { generator }));
  }

  forward(x: Tensor): Tensor {
    const h = F.silu(this.norm.forward(this.conv.forward(x))); // [B, 8, H, W]
    return this.head.forward(h.mean([2, 3])); // [B, 2]
  }
}

/** Two separable classes of 8x8 images: bright top half (class 0) or bright bottom half (class 1). */
function batch(generator: Generator, size: number): { x: Tensor; y: number[] } {
  const x = Tensor.randn([size, 3, 8, 8], generator).mul(0.3);
  const y: number[] = [];
  for (let i = 0; i < size; i++) {
    const label = generator.integer(2);
    y.push(label);
    for (let c = 0; c < 3; c++) {
      for (let r = label === 0 ? 0 : 4; r < (label === 0 ? 4 : 8); r++) {
        for (let col = 0; col < 8; col++) x.data[((i * 3 + c) * 8 + r) * 8 + col] += 1;
      }
    }
  }
  return { x, y };
}

test('a conv net trains with Adam through the public API and its state dict round-trips', () => {
  const generator = new Generator(0);
  const model = new TinyNet(generator);
  const optimizer = new optim.Adam(model.parameters(), { lr: 0.02 });
  const losses: number[] = [];
  for (let step = 0; step < 60; step++) {
    const { x, y } = batch(generator, 16);
    const loss = F.crossEntropy(model.forward(x), y);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    losses.push(loss.item());
  }
  const early = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const late = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(late < early * 0.5, `loss went from ${early} to ${late}`);

  const dir = mkdtempSync(join(tmpdir(), 'ldm-api-'));
  try {
    const file = join(dir, 'tiny.safetensors');
    writeSafetensors(file, model.stateDict());
    const copy = new TinyNet(new Generator(99));
    copy.loadStateDict(readSafetensors(file));
    const { x } = batch(new Generator(5), 4);
    const [a, b] = noGrad(() => [model.forward(x), copy.forward(x)]);
    assert.deepEqual(Array.from(a.data), Array.from(b.data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('grad() returns gradients without touching .grad, twice on one graph with retainGraph', () => {
  const w = Tensor.from([
    [1, 2],
    [3, 4],
  ]).requireGrad();
  const x = Tensor.from([
    [1, -1],
    [0.5, 2],
  ]);
  const y = x.matmul(w);
  const [g1] = grad(y.sum(), [w], { retainGraph: true });
  const [g2] = grad(y.square().sum(), [w], { retainGraph: true });
  assert.equal(w.grad, null);
  // d sum(xW) / dW = x^T 1
  assert.deepEqual(Array.from(g1.data), [1.5, 1.5, 1, 1]);
  // d sum((xW)^2) / dW = x^T (2 xW)
  const xw = [
    [1 * 1 + -1 * 3, 1 * 2 + -1 * 4],
    [0.5 * 1 + 2 * 3, 0.5 * 2 + 2 * 4],
  ];
  const expected = [0, 1].flatMap((i) => [0, 1].map((j) => 2 * (x.data[i] * xw[0][j] + x.data[2 + i] * xw[1][j])));
  assert.deepEqual(Array.from(g2.data), expected);
  y.sum().backward();
  assert.deepEqual(Array.from(w.grad!.data), [1.5, 1.5, 1, 1]);
});

test(`training loop resident memory is flat over 1,000 steps (${getBackend().name} backend)`, () => {
  const generator = new Generator(1);
  const model = new TinyNet(generator);
  const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-3 });
  const x = Tensor.randn([32, 3, 16, 16], generator);
  const y = Array.from({ length: 32 }, (_, i) => i % 2);
  const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
  let afterWarmUp = 0;
  let peak = 0;
  for (let step = 0; step < 1000; step++) {
    const loss = F.crossEntropy(model.forward(x), y);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    if (step === 100) afterWarmUp = rssMiB();
    if (step > 100) peak = Math.max(peak, rssMiB());
  }
  // Garbage collection runs when V8 decides, so RSS wobbles; a leak of even one activation
  // buffer per step (32 x 8 x 16 x 16 floats = 256 KiB) would add 225 MiB over 900 steps.
  assert.ok(peak - afterWarmUp < 24, `RSS grew from ${afterWarmUp.toFixed(1)} MiB to a peak of ${peak.toFixed(1)} MiB`);
});

test('the bundled models load and sample through the package API', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const { ldm } = loadLdmWeights(join(root, 'weights', 'mnist-class-f4.safetensors'));
  assert.deepEqual(generate(ldm, { labels: 7, steps: 2, guidance: 3 }).shape, [1, 1, 32, 32]);
  const text = loadLdmWeights(join(root, 'weights', 'emoji-text-f4.safetensors')).ldm;
  const hearts = generate(text, { n: 2, prompts: 'blue heart', negativePrompts: 'red', steps: 2, guidance: 3 });
  assert.deepEqual(hearts.shape, [2, 3, 32, 32]);
  assert.ok(diffusion.SAMPLER_NAMES.includes('dpm++2m'));
});
