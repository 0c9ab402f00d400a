import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { Adam, AdamW, SGD, type Optimizer, type BaseHyperParams } from '../../src/optim/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, makeParams, setGradients } from './quadratic.js';

type Steps = number[][][]; // [step][param][element]

// Parameters after each of three steps on the quadratic in quadratic.ts, printed by
// `/usr/bin/python3 test/optim/torch_reference.py` (torch 1.13 CPU, float32). Two thirds of
// the values match bit for bit; the rest differ by an ulp or two of the operands, since torch
// rounds every intermediate tensor (and its scalar factors) to float32 where we round once
// (worst seen: 7.7e-7 relative, where p - update cancels digits).
const TORCH: Record<string, Steps> = {
  sgd: [
    [
      [
        0.550000011920929, -0.3999999761581421, 1.850000023841858, 1.2000000476837158, -0.21250000596046448,
        0.030000001192092896,
      ],
      [0.24000000953674316, -0.5799999833106995, 1.1150000095367432],
    ],
    [
      [
        0.5950000286102295, 0.08000005036592484, 1.7074999809265137, 0.9900000095367432, -0.18062500655651093,
        0.05970000475645065,
      ],
      [0.19200000166893005, -0.47200000286102295, 1.034250020980835],
    ],
    [
      [
        0.6355000138282776, 0.46400004625320435, 1.57212495803833, 0.8429999947547913, -0.1535312533378601,
        0.08910300582647324,
      ],
      [0.15360000729560852, -0.3747999966144562, 0.9575375318527222],
    ],
  ],
  sgdMomentum: [
    [
      [
        0.5494999885559082, -0.398999959230423, 1.8480000495910645, 1.1985000371932983, -0.2122499942779541,
        0.030000001192092896,
      ],
      [0.23970000445842743, -0.5792999863624573, 1.113800048828125],
    ],
    [
      [
        0.6341004371643066, 0.574079155921936, 1.5813769102096558, 0.7374763488769531, -0.14943021535873413,
        0.08370300382375717,
      ],
      [0.1420682668685913, -0.37301161885261536, 0.962596595287323],
    ],
    [
      [
        0.7426010966300964, 1.7059993743896484, 1.2238308191299438, 0.2577727138996124, -0.0725848525762558,
        0.15820704400539398,
      ],
      [0.028499552980065346, -0.10844533890485764, 0.7598302960395813],
    ],
  ],
  sgdNesterov: [
    [
      [
        0.5940499901771545, 0.14190007746219635, 1.7111999988555908, 0.9271500110626221, -0.178275004029274,
        0.05700000002980232,
      ],
      [0.18543000519275665, -0.4706699848175049, 1.0362200736999512],
    ],
    [
      [
        0.7101467847824097, 1.3345184326171875, 1.3272647857666016, 0.4376979172229767, -0.09655040502548218,
        0.1371086984872818,
      ],
      [0.06577128171920776, -0.18758141994476318, 0.818488359451294],
    ],
    [
      [
        0.8323558568954468, 2.323892116546631, 0.8816551566123962, 0.14803655445575714, -0.01952553354203701,
        0.2369052618741989,
      ],
      [-0.033495333045721054, 0.11041126400232315, 0.565780758857727],
    ],
  ],
  adam: [
    [
      [
        0.5999999642372131, -0.8999999761581421, 1.899999976158142, 1.399999976158142, -0.15000000596046448,
        0.09999998658895493,
      ],
      [0.20000001788139343, -0.6000000238418579, 1.100000023841858],
    ],
    [
      [
        0.6988125443458557, -0.800102710723877, 1.800102710723877, 1.3004121780395508, -0.05425097048282623,
        0.19989728927612305,
      ],
      [0.10296480357646942, -0.5003208518028259, 1.0002038478851318],
    ],
    [
      [
        0.7951287031173706, -0.7003815174102783, 1.7003815174102783, 1.2015862464904785, 0.030208341777324677,
        0.2996184825897217,
      ],
      [0.013288989663124084, -0.401222825050354, 0.9007665514945984],
    ],
  ],
  adamL2Amsgrad: [
    [
      [
        0.6000000238418579, -0.8999999761581421, 1.899999976158142, 1.399999976158142, -0.1499999761581421,
        0.10000000149011612,
      ],
      [0.20000001788139343, -0.5999999642372131, 1.100000023841858],
    ],
    [
      [
        0.6975791454315186, -0.8002011179924011, 1.8002066612243652, 1.3006820678710938, -0.055568844079971313,
        0.19957493245601654,
      ],
      [0.10402822494506836, -0.5005821585655212, 1.0003893375396729],
    ],
    [
      [
        0.7899901866912842, -0.7007449269294739, 1.7007657289505005, 1.2026011943817139, 0.02496349811553955,
        0.29840344190597534,
      ],
      [0.017519980669021606, -0.40220725536346436, 0.9014592170715332],
    ],
  ],
  adamW: [
    [
      [
        0.5949999690055847, -0.8899999856948853, 1.8799999952316284, 1.3849999904632568, -0.14750000834465027,
        0.09999998658895493,
      ],
      [0.19700002670288086, -0.593000054359436, 1.0880000591278076],
    ],
    [
      [
        0.6879591941833496, -0.7812147736549377, 1.7613271474838257, 1.2716530561447144, -0.050495147705078125,
        0.19889727234840393,
      ],
      [0.09816916286945343, -0.48742175102233887, 0.9773555397987366],
    ],
    [
      [
        0.7777561545372009, -0.6737130284309387, 1.6440585851669312, 1.1603765487670898, 0.033717814832925797,
        0.2966311275959015,
      ],
      [0.008103445172309875, -0.38353392481803894, 0.8682311773300171],
    ],
  ],
  adamWGroups: [
    [
      [
        0.574999988079071, -0.8499999642372131, 1.7999999523162842, 1.3249999284744263, -0.13749998807907104,
        0.09999998658895493,
      ],
      [0.2500000298023224, -0.6499999761581421, 1.1500000953674316],
    ],
    [
      [
        0.6455015540122986, -0.7076663970947266, 1.610239028930664, 1.1597042083740234, -0.03604510426521301,
        0.19489727914333344,
      ],
      [0.2004413902759552, -0.6000667214393616, 1.10004460811615],
    ],
    [
      [
        0.7110973000526428, -0.5727258324623108, 1.4303696155548096, 1.0045039653778076, 0.04630378261208534,
        0.2848818004131317,
      ],
      [0.15177084505558014, -0.550248920917511, 1.050165057182312],
    ],
  ],
};

// The same optimizers as torch_reference.py's CASES, in our API.
const CASES: Record<string, (p1: Tensor, p2: Tensor) => Optimizer<BaseHyperParams>> = {
  sgd: (p1, p2) => new SGD([p1, p2], { lr: 0.1 }),
  sgdMomentum: (p1, p2) => new SGD([p1, p2], { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }),
  sgdNesterov: (p1, p2) => new SGD([p1, p2], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
  adam: (p1, p2) => new Adam([p1, p2], { lr: 0.1 }),
  adamL2Amsgrad: (p1, p2) => new Adam([p1, p2], { lr: 0.1, betas: [0.8, 0.99], weightDecay: 0.1, amsgrad: true }),
  adamW: (p1, p2) => new AdamW([p1, p2], { lr: 0.1, weightDecay: 0.1 }),
  adamWGroups: (p1, p2) =>
    new AdamW([{ params: [p1] }, { params: [p2], lr: 0.05, weightDecay: 0 }], {
      lr: 0.1,
      weightDecay: 0.5,
      amsgrad: true,
    }),
};

describe('optimizers match torch.optim', () => {
  for (const [name, make] of Object.entries(CASES)) {
    test(`${name}: first three updates`, () => {
      const [p1, p2] = makeParams();
      const optimizer = make(p1, p2);
      TORCH[name].forEach(([want1, want2], step) => {
        setGradients(p1, p2);
        optimizer.step();
        assertClose(p1.data, want1, 1e-6, `${name} step ${step + 1} p1`);
        assertClose(p2.data, want2, 1e-6, `${name} step ${step + 1} p2`);
      });
    });
  }
});

describe('optimizer behaviour', () => {
  test('AdamW differs from Adam exactly by the decoupled decay of the first step', () => {
    // On step 1, Adam's update is lr * m / (sqrt(v) + eps) with m, v built from g: the L2
    // term changes g. AdamW instead scales p by (1 - lr * wd) first and leaves g alone.
    const lr = 0.1;
    const wd = 0.5;
    const [a1, a2] = makeParams();
    const [w1, w2] = makeParams();
    const [plain1, plain2] = makeParams();
    const adam = new Adam([a1, a2], { lr, weightDecay: wd });
    const adamW = new AdamW([w1, w2], { lr, weightDecay: wd });
    const reference = new Adam([plain1, plain2], { lr });
    const before = w1.data.slice();
    for (const [p, q] of [
      [a1, a2],
      [w1, w2],
      [plain1, plain2],
    ])
      setGradients(p, q);
    adam.step();
    adamW.step();
    reference.step();
    // AdamW = decayed p + the plain Adam step.
    const expected = Array.from(before, (p, i) => p * (1 - lr * wd) + (plain1.data[i] - p));
    assertClose(w1.data, expected, 1e-6, 'AdamW p1');
    // Adam with L2 differs from AdamW wherever the penalty flips or scales the update.
    assert.ok(
      a1.data.some((v, i) => Math.abs(v - w1.data[i]) > 1e-3),
      'Adam(L2) and AdamW coincide',
    );
  });

  test('weight decay 0 makes AdamW and Adam identical', () => {
    const [a1, a2] = makeParams();
    const [w1, w2] = makeParams();
    const adam = new Adam([a1, a2], { lr: 0.1 });
    const adamW = new AdamW([w1, w2], { lr: 0.1, weightDecay: 0 });
    for (let step = 0; step < 5; step++) {
      setGradients(a1, a2);
      setGradients(w1, w2);
      adam.step();
      adamW.step();
    }
    assert.deepEqual(w1.data, a1.data);
    assert.deepEqual(w2.data, a2.data);
  });

  test('parameters with null grad are skipped, and zeroGrad sets grads to null', () => {
    const [p1, p2] = makeParams();
    const optimizer = new Adam([p1, p2], { lr: 0.1 });
    setGradients(p1, p2);
    p2.grad = null;
    const p2Before = p2.data.slice();
    optimizer.step();
    assert.deepEqual(p2.data, p2Before);
    assert.equal(optimizer.stateDict().state[1], undefined);
    assert.equal(optimizer.stateDict().state[0].step, 1);
    optimizer.zeroGrad();
    assert.equal(p1.grad, null);
    assert.equal(p2.grad, null);
  });

  test('named parameters and groups: lr per group, names in the state', () => {
    const [p1, p2] = makeParams();
    const optimizer = new SGD(
      [{ params: [['encoder.weight', p1] as const], lr: 0.5 }, { params: [['encoder.bias', p2] as const] }],
      { lr: 0.1 },
    );
    assert.deepEqual(
      optimizer.paramGroups.map((g) => g.lr),
      [0.5, 0.1],
    );
    assert.deepEqual(
      optimizer.stateDict().paramGroups.map((g) => g.names),
      [['encoder.weight'], ['encoder.bias']],
    );
  });

  test('bad arguments are rejected with clear errors', () => {
    const [p1, p2] = makeParams();
    assert.throws(() => new Adam([]), /Adam: got an empty parameter list/);
    assert.throws(() => new Adam([p1, p1]), /appears more than once/);
    assert.throws(() => new Adam([p1], { lr: -1 }), /Adam: lr must be a finite number >= 0, got -1/);
    assert.throws(() => new Adam([p1], { betas: [0.9, 1] }), /betas must lie in \[0, 1\)/);
    assert.throws(() => new Adam([p1], { learningRate: 1 } as never), /unknown option "learningRate"/);
    assert.throws(() => new SGD([p1], { nesterov: true }), /nesterov momentum requires momentum > 0/);
    assert.throws(() => new AdamW([{ params: [p1] }, { params: [p2], lr: NaN }]), /AdamW group 1: lr must be/);
    const optimizer = new SGD([p1]);
    p1.grad = Tensor.zeros([6]);
    assert.throws(() => optimizer.step(), /SGD.step: parameter 0 has shape \[2, 3\] but its grad has shape \[6\]/);
  });
});
