import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { Generator, Tensor, nn, writeSafetensors, readSafetensors } from '../../src/index.js';

/** A CompVis-style ResnetBlock: norm1, conv1, norm2, conv2, and nin_shortcut when channels change. */
class ResnetBlock extends nn.Module {
  readonly norm1: nn.GroupNorm;
  readonly conv1: nn.Conv2d;
  readonly norm2: nn.GroupNorm;
  readonly conv2: nn.Conv2d;
  readonly ninShortcut: nn.Conv2d | null;

  constructor(inChannels: number, outChannels: number, generator: Generator) {
    super();
    this.norm1 = this.registerModule('norm1', new nn.GroupNorm(2, inChannels));
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(inChannels, outChannels, 3, { padding: 1, generator }));
    this.norm2 = this.registerModule('norm2', new nn.GroupNorm(2, outChannels));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(outChannels, outChannels, 3, { padding: 1, generator }));
    this.ninShortcut =
      inChannels === outChannels
        ? null
        : this.registerModule('nin_shortcut', new nn.Conv2d(inChannels, outChannels, 1, { generator }));
  }
}

/** A two-level encoder laid out like the CompVis one: conv_in, down.{i}.block.{j}, down.{i}.downsample.conv. */
class TinyEncoder extends nn.Module {
  readonly down: nn.ModuleList;

  constructor(generator = new Generator(0)) {
    super();
    this.registerModule('conv_in', new nn.Conv2d(3, 4, 3, { padding: 1, generator }));
    this.down = this.registerModule('down', new nn.ModuleList());
    for (const [level, channels] of [4, 8].entries()) {
      const down = new nn.Module();
      down.registerModule(
        'block',
        new nn.ModuleList([new ResnetBlock(4, channels, generator), new ResnetBlock(channels, channels, generator)]),
      );
      if (level === 0) {
        const downsample = down.registerModule('downsample', new nn.Module());
        downsample.registerModule('conv', new nn.Conv2d(4, 4, 3, { stride: 2, generator }));
      }
      this.down.append(down);
    }
  }
}

class Wrapper extends nn.Module {
  readonly encoder: TinyEncoder;
  constructor(generator?: Generator) {
    super();
    this.encoder = this.registerModule('encoder', new TinyEncoder(generator));
    this.registerModule('norm', new nn.BatchNorm2d(8));
  }
}

function valuesOf(t: Tensor): number[] {
  return Array.from(t.data);
}

describe('Module names', () => {
  test('nested modules and lists give PyTorch dotted names in registration order', () => {
    const keys = [...new Wrapper().stateDict().keys()];
    assert.deepEqual(keys.slice(0, 10), [
      'encoder.conv_in.weight',
      'encoder.conv_in.bias',
      'encoder.down.0.block.0.norm1.weight',
      'encoder.down.0.block.0.norm1.bias',
      'encoder.down.0.block.0.conv1.weight',
      'encoder.down.0.block.0.conv1.bias',
      'encoder.down.0.block.0.norm2.weight',
      'encoder.down.0.block.0.norm2.bias',
      'encoder.down.0.block.0.conv2.weight',
      'encoder.down.0.block.0.conv2.bias',
    ]);
    assert.ok(keys.includes('encoder.down.0.block.1.norm1.weight'));
    assert.ok(keys.includes('encoder.down.0.downsample.conv.weight'));
    assert.ok(keys.includes('encoder.down.1.block.0.nin_shortcut.bias'));
    assert.ok(!keys.includes('encoder.down.0.block.0.nin_shortcut.weight'));
    assert.deepEqual(keys.slice(-5), [
      'norm.weight',
      'norm.bias',
      'norm.running_mean',
      'norm.running_var',
      'norm.num_batches_tracked',
    ]);
  });

  test('namedParameters excludes buffers; namedBuffers lists them; namedModules starts with the root', () => {
    const model = new Wrapper();
    const params = model.namedParameters().map(([name]) => name);
    assert.ok(!params.some((name) => name.includes('running')));
    assert.deepEqual(
      model.namedBuffers().map(([name]) => name),
      ['norm.running_mean', 'norm.running_var', 'norm.num_batches_tracked'],
    );
    const modules = model.namedModules().map(([name]) => name);
    assert.deepEqual(modules.slice(0, 4), ['', 'encoder', 'encoder.conv_in', 'encoder.down']);
    assert.ok(modules.includes('encoder.down.1.block.0.nin_shortcut'));
    assert.deepEqual(
      model.namedChildren().map(([name]) => name),
      ['encoder', 'norm'],
    );
    assert.equal(model.parameters().length, params.length);
  });

  test('Sequential names its layers 0, 1, 2 and chains them', () => {
    const g = new Generator(1);
    const timeEmbed = new nn.Sequential(
      new nn.Linear(4, 8, { generator: g }),
      new nn.SiLU(),
      new nn.Linear(8, 8, { generator: g }),
    );
    assert.deepEqual([...timeEmbed.stateDict().keys()], ['0.weight', '0.bias', '2.weight', '2.bias']);
    assert.equal(timeEmbed.length, 3);
    assert.ok(timeEmbed.get(-1) instanceof nn.Linear);
    assert.throws(() => timeEmbed.get(3), /index 3 is out of range for 3 modules/);
    const x = Tensor.rand([2, 4], g);
    let expected = x;
    for (const layer of timeEmbed) expected = layer.forward(expected);
    assert.deepEqual(valuesOf(timeEmbed.forward(x)), valuesOf(expected));
  });

  test('a shared submodule is listed once by namedParameters but under both names in the state dict', () => {
    const shared = new nn.Linear(2, 2);
    const model = new nn.Module();
    model.registerModule('a', shared);
    model.registerModule('b', shared);
    assert.deepEqual(
      model.namedParameters().map(([n]) => n),
      ['a.weight', 'a.bias'],
    );
    assert.deepEqual([...model.stateDict().keys()], ['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    assert.equal(model.numParameters(), 6);
  });

  test('registration rejects duplicate, dotted and empty names and cycles', () => {
    const m = new nn.Linear(2, 3);
    assert.throws(() => m.registerParameter('weight', Tensor.zeros([1])), /already has .* named "weight"/);
    assert.throws(() => m.registerBuffer('bias', Tensor.zeros([1])), /already has/);
    assert.throws(() => m.registerModule('a.b', new nn.ReLU()), /contain no "\."/);
    assert.throws(() => m.registerModule('', new nn.ReLU()), /non-empty/);
    const parent = new nn.Module();
    const child = parent.registerModule('child', new nn.Module());
    assert.throws(() => child.registerModule('loop', parent), /contain itself/);
    const x = Tensor.ones([2]).requireGrad();
    assert.throws(() => m.registerParameter('derived', x.mul(2)), /must be a leaf tensor/);
  });

  test('toString prints the tree with layer settings', () => {
    const s = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.LeakyReLU(0.2)).toString();
    assert.equal(
      s,
      'Sequential(\n  (0): Conv2d(3, 4, kernelSize=[3,3], padding=1, bias=true)\n  (1): LeakyReLU(negativeSlope=0.2)\n)',
    );
  });
});

describe('Module state dict', () => {
  test('stateDict / loadStateDict round trip, from a Map and from a record', () => {
    const source = new Wrapper(new Generator(1));
    const target = new Wrapper(new Generator(2));
    const dict = source.stateDict();
    assert.notDeepEqual(
      valuesOf(target.encoder.stateDict().get('conv_in.weight')!),
      valuesOf(dict.get('encoder.conv_in.weight')!),
    );
    assert.deepEqual(target.loadStateDict(dict), { missing: [], unexpected: [] });
    for (const [key, value] of target.stateDict()) assert.deepEqual(valuesOf(value), valuesOf(dict.get(key)!), key);

    const third = new Wrapper(new Generator(3));
    third.loadStateDict(Object.fromEntries(dict));
    assert.deepEqual(
      valuesOf(third.stateDict().get('encoder.down.1.block.1.conv2.weight')!),
      valuesOf(dict.get('encoder.down.1.block.1.conv2.weight')!),
    );
  });

  test('stateDict values share memory with the parameters but are outside autograd', () => {
    const layer = new nn.Linear(2, 2);
    const weight = layer.stateDict().get('weight')!;
    assert.equal(weight.data, layer.weight.data);
    assert.equal(weight.requiresGrad, false);
    assert.equal(layer.weight.requiresGrad, true);
  });

  test('loading copies in place, so references to parameters stay valid', () => {
    const layer = new nn.Linear(2, 1);
    const weightRef = layer.weight;
    layer.loadStateDict({ weight: Tensor.from([[3, 4]]), bias: Tensor.from([5]) });
    assert.equal(layer.weight, weightRef);
    assert.deepEqual(valuesOf(layer.weight), [3, 4]);
    assert.deepEqual(valuesOf(layer.forward(Tensor.from([[1, 1]]))), [12]);
  });

  test('the strict error lists missing, unexpected and mis-shaped keys, and nothing is loaded', () => {
    const model = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU(), new nn.Linear(3, 1));
    const before = model.stateDict();
    const snapshot = new Map([...before].map(([k, v]) => [k, v.clone()]));
    const bad = new Map<string, Tensor>([
      ['0.weight', Tensor.ones([3, 2])],
      ['0.bias', Tensor.ones([2])],
      ['2.weight', Tensor.ones([1, 3])],
      ['3.weight', Tensor.ones([1])],
    ]);
    assert.throws(
      () => model.loadStateDict(bad),
      (err: Error) => {
        assert.match(err.message, /cannot load state dict into Sequential; nothing was loaded/);
        assert.match(err.message, /missing keys \(1\): 2\.bias/);
        assert.match(err.message, /unexpected keys \(1\): 3\.weight/);
        assert.match(err.message, /shape mismatches \(1\):\n {4}0\.bias: checkpoint \[2\], model \[3\]/);
        return true;
      },
    );
    for (const [key, value] of model.stateDict()) assert.deepEqual(valuesOf(value), valuesOf(snapshot.get(key)!), key);
  });

  test('non-strict loading returns missing and unexpected keys and loads the rest; wrong shapes still throw', () => {
    const model = new nn.Linear(2, 1);
    const result = model.loadStateDict({ weight: Tensor.from([[7, 8]]), extra: Tensor.zeros([1]) }, { strict: false });
    assert.deepEqual(result, { missing: ['bias'], unexpected: ['extra'] });
    assert.deepEqual(valuesOf(model.weight), [7, 8]);
    assert.throws(
      () => model.loadStateDict({ weight: Tensor.zeros([2, 1]) }, { strict: false }),
      /weight: checkpoint \[2, 1\], model \[1, 2\]/,
    );
  });

  test('a record whose values do not fill its shape is rejected', () => {
    const model = new nn.Linear(2, 1);
    const broken = { shape: [1, 2], data: new Float32Array(3) };
    assert.throws(
      () => model.loadStateDict({ weight: broken, bias: Tensor.zeros([1]) }),
      /weight: checkpoint has 3 values for shape \[1, 2\]/,
    );
  });

  test('non-persistent buffers stay out of the state dict', () => {
    const m = new nn.Module();
    m.registerBuffer('kept', Tensor.zeros([2]));
    m.registerBuffer('cache', Tensor.zeros([2]), { persistent: false });
    assert.deepEqual([...m.stateDict().keys()], ['kept']);
    assert.deepEqual(
      m.namedBuffers().map(([n]) => n),
      ['kept', 'cache'],
    );
  });

  test('a BatchNorm state dict survives a safetensors round trip, num_batches_tracked included', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'ldm-nn-'));
    try {
      const bn = new nn.BatchNorm2d(2);
      bn.forward(Tensor.randn([2, 2, 2, 2], new Generator(4)));
      const path = join(dir, 'bn.safetensors');
      writeSafetensors(path, new Map([...bn.stateDict()].map(([k, v]) => [k, { shape: [...v.shape], data: v.data }])));
      const loaded = new nn.BatchNorm2d(2);
      loaded.loadStateDict(readSafetensors(path));
      assert.equal(loaded.numBatchesTracked!.item(), 1);
      assert.deepEqual(valuesOf(loaded.runningMean!), valuesOf(bn.runningMean!));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Module modes and gradients', () => {
  test('train() and eval() set the flag recursively', () => {
    const model = new Wrapper();
    model.eval();
    assert.ok(model.modules().every((m) => !m.training));
    model.train();
    assert.ok(model.modules().every((m) => m.training));
  });

  test('requiresGrad_(false) freezes: no gradients reach the parameters', () => {
    const g = new Generator(5);
    const frozen = new nn.Linear(3, 4, { generator: g }).requiresGrad_(false);
    const head = new nn.Linear(4, 1, { generator: g });
    const loss = head.forward(frozen.forward(Tensor.randn([2, 3], g))).sum();
    loss.backward();
    assert.equal(frozen.weight.grad, null);
    assert.equal(frozen.bias!.grad, null);
    assert.notEqual(head.weight.grad, null);
    assert.equal(frozen.numParameters({ onlyTrainable: true }), 0);
    assert.equal(frozen.numParameters(), 16);
    head.zeroGrad();
    assert.equal(head.weight.grad, null);
  });

  test('apply visits children before parents', () => {
    const order: string[] = [];
    new nn.Sequential(new nn.ReLU(), new nn.Sequential(new nn.SiLU())).apply((m) => order.push(m.constructor.name));
    assert.deepEqual(order, ['ReLU', 'SiLU', 'Sequential', 'Sequential']);
  });
});
