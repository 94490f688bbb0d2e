import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist, subset, type Dataset } from '../src/data/mnist.js';
import { loadModel } from '../src/graph/model.js';
import { initModel } from '../src/train/init.js';
import { saveModel } from '../src/train/save.js';
import { madryEpsilon, train, type Regularizer } from '../src/train/train.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { SmoothgeoError } from '../src/errors.js';
import { BACKENDS, cpuEngine } from './helpers.js';

// A small CNN so that a few steps on a few hundred real digits run in seconds on SwiftShader.
const SPEC = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', name: 'conv1', out: 4, kernel: 5, stride: 2 },
    { type: 'relu' },
    { type: 'maxpool2d', kernel: 2 },
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', out: 32 },
    { type: 'relu' },
    { type: 'dense', name: 'fc2', out: 10 },
  ],
};

let mnist: Awaited<ReturnType<typeof loadMnist>>;
beforeAll(async () => {
  mnist = await loadMnist({ seed: 3 });
});
const small = (): Dataset =>
  subset(
    mnist.train,
    Array.from({ length: 256 }, (_, i) => i),
  );

describe('loadMnist', () => {
  it('a stratified 8,000 / 2,000 split of the 10,000 real digits, in [0, 1], deterministic from the seed', async () => {
    expect(mnist.train.x.shape).toEqual([8000, 1, 28, 28]);
    expect(mnist.test.x.shape).toEqual([2000, 1, 28, 28]);
    expect(mnist.train.labels.length).toBe(8000);
    const ids = new Set([...mnist.train.ids, ...mnist.test.ids]);
    expect(ids.size).toBe(10000); // disjoint, and every digit used once
    let min = Infinity,
      max = -Infinity;
    for (const v of mnist.train.x.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    // Stratified: each class has the same share of its digits in the test set (to one digit of rounding).
    const count = (l: number[]) => Array.from({ length: 10 }, (_, c) => l.filter((q) => q === c).length);
    const tr = count(mnist.train.labels),
      te = count(mnist.test.labels);
    for (let c = 0; c < 10; c++) expect(Math.abs(te[c] - 0.2 * (tr[c] + te[c]))).toBeLessThanOrEqual(1);
    const again = await loadMnist({ seed: 3 });
    expect(again.train.ids).toEqual(mnist.train.ids);
    expect(Buffer.from(again.test.x.data.buffer).equals(Buffer.from(mnist.test.x.data.buffer))).toBe(true);
    const other = await loadMnist({ seed: 4 });
    expect(other.test.ids).not.toEqual(mnist.test.ids);
    await expect(loadMnist({ seed: -1 })).rejects.toThrow(/seed must be an integer/);
    await expect(loadMnist({ testFraction: 1.5 } as never)).rejects.toThrow(/testFraction must be in \(0, 1\)/);
  });
});

const backends = BACKENDS; // cpu, webgpu and wasm
const regularizers: Regularizer[] = [
  { kind: 'none' },
  { kind: 'ssr', alpha: 0.3, scale: 10, iterations: 2 },
  { kind: 'madry', epsilon: 0.1, step: 0.05, iterations: 2 },
];

for (const [name, engine] of backends) {
  describe(`train on ${name}`, () => {
    for (const reg of regularizers) {
      it(`${reg.kind}: a few steps lower the loss, and the same seed gives the same weights`, async () => {
        const data = small();
        const run = async () => {
          const { model } = initModel(await engine(), SPEC, { seed: 11 });
          const r = await train(model, data, {
            epochs: 3,
            batchSize: 32,
            seed: 5,
            regularizer: reg,
            optimizer: { kind: 'adam', lr: 3e-3 },
            progress: false,
          });
          return { model, r };
        };
        const a = await run();
        expect(a.r.history.length).toBe(3);
        expect(a.r.steps).toBe(24);
        expect(a.r.history[2].loss).toBeLessThan(a.r.history[0].loss);
        expect(a.r.history.every((h) => h.seconds > 0 && h.accuracy >= 0 && h.accuracy <= 1)).toBe(true);
        if (reg.kind === 'ssr') expect(a.r.history[0].lambdaMax).toBeGreaterThan(0);
        const b = await run();
        const wa = a.model.getWeights(),
          wb = b.model.getWeights();
        for (const k of Object.keys(wa))
          expect(Buffer.from(wb[k].data.buffer).equals(Buffer.from(wa[k].data.buffer)), k).toBe(true);
        expect(b.r.history.map((h) => h.loss)).toEqual(a.r.history.map((h) => h.loss));
      });
    }

    it("SGD with momentum and a step schedule lowers the loss; the schedule sets each epoch's rate", async () => {
      const { model } = initModel(await engine(), SPEC, { seed: 2 });
      const r = await train(model, small(), {
        epochs: 3,
        batchSize: 32,
        seed: 1,
        optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4 },
        schedule: { kind: 'step', everyEpochs: 1, gamma: 0.5 },
        progress: false,
      });
      expect(r.history.map((h) => h.lr)).toEqual([0.05, 0.025, 0.0125]);
      expect(r.history[2].loss).toBeLessThan(r.history[0].loss);
    });
  });
}

describe('Madry ε warm-up', () => {
  it('scales ε and the PGD step linearly over the warm-up steps, then holds them', () => {
    const reg = { epsilon: 0.3, step: 0.1, epsilonWarmup: 2 };
    const first = madryEpsilon(reg, 0, 10);
    expect(first.epsilon).toBeCloseTo(0.3 / 20, 15);
    expect(first.step).toBeCloseTo(0.1 / 20, 15);
    expect(madryEpsilon(reg, 9, 10).epsilon).toBeCloseTo(0.15, 15);
    expect(madryEpsilon(reg, 19, 10)).toEqual({ epsilon: 0.3, step: 0.1 });
    expect(madryEpsilon(reg, 500, 10)).toEqual({ epsilon: 0.3, step: 0.1 });
    expect(madryEpsilon({ ...reg, epsilonWarmup: 0 }, 0, 10)).toEqual({ epsilon: 0.3, step: 0.1 });
  });

  it("a warm-up step trains exactly as a plain Madry step at that step's ε; epochs report their ε", async () => {
    const data = small(); // 256 digits, batch 32: 8 steps per epoch
    const run = async (reg: Regularizer, epochs: number, maxSteps?: number) => {
      const { model } = initModel(await cpuEngine(), SPEC, { seed: 11 });
      const r = await train(model, data, {
        epochs,
        batchSize: 32,
        seed: 5,
        regularizer: reg,
        maxSteps,
        progress: false,
      });
      return { w: model.getWeights(), r };
    };
    // Step 0 of a 2-epoch warm-up runs at 1/16 of ε and of the step (a power of two: the products are exact).
    const warm = await run({ kind: 'madry', epsilon: 0.2, step: 0.08, iterations: 2, epsilonWarmup: 2 }, 1, 1);
    const plain = await run({ kind: 'madry', epsilon: 0.2 / 16, step: 0.08 / 16, iterations: 2 }, 1, 1);
    const full = await run({ kind: 'madry', epsilon: 0.2, step: 0.08, iterations: 2 }, 1, 1);
    for (const k of Object.keys(plain.w))
      expect(Buffer.from(warm.w[k].data.buffer).equals(Buffer.from(plain.w[k].data.buffer)), k).toBe(true);
    expect(Buffer.from(warm.w['fc2.weight'].data.buffer).equals(Buffer.from(full.w['fc2.weight'].data.buffer))).toBe(
      false,
    );
    const epochs = await run({ kind: 'madry', epsilon: 0.2, step: 0.08, iterations: 1, epsilonWarmup: 2 }, 3);
    expect(epochs.r.history.map((h) => h.epsilon)).toEqual([0.1, 0.2, 0.2]);
  });
});

describe('saveModel', () => {
  it('round trip through loadModel: same names (PyTorch, no prefix), shapes and bits, and the same logits', async () => {
    const e = await cpuEngine();
    const { model } = initModel(e, SPEC, { seed: 9 });
    const bytes = saveModel(model, { metadata: { note: 'test' } });
    const parsed = parseSafetensors(bytes);
    expect([...parsed.tensors.keys()].sort()).toEqual([
      'conv1.bias',
      'conv1.weight',
      'fc1.bias',
      'fc1.weight',
      'fc2.bias',
      'fc2.weight',
    ]);
    expect(parsed.tensors.get('conv1.weight')!.shape).toEqual([4, 1, 5, 5]);
    expect(parsed.tensors.get('fc1.weight')!.shape).toEqual([32, 144]);
    const back = await loadModel(e, SPEC, bytes);
    const wa = model.getWeights(),
      wb = back.getWeights();
    for (const k of Object.keys(wa))
      expect(Buffer.from(wb[k].data.buffer).equals(Buffer.from(wa[k].data.buffer)), k).toBe(true);
    const x = subset(mnist.test, [0, 1]).x;
    expect(Array.from((await back.forward(x)).data)).toEqual(Array.from((await model.forward(x)).data));
  });

  it('train rejects bad options with errors that name them', async () => {
    const { model } = initModel(await cpuEngine(), SPEC, { seed: 1 });
    const data = small();
    const bad = async (o: object, re: RegExp) => {
      const err = await train(model, data, o as never).catch((e) => e);
      expect(err).toBeInstanceOf(SmoothgeoError);
      expect(err.message).toMatch(re);
    };
    await bad({ epochs: 0 }, /epochs must be an integer >= 1/);
    await bad({ optimizer: { kind: 'rmsprop' } }, /optimizer.kind must be 'sgd' or 'adam'/);
    await bad({ optimizer: { kind: 'sgd' } }, /needs lr/);
    await bad({ regularizer: { kind: 'ssr' } }, /regularizer.alpha \(ssr\) must be a number in \[0, 1\]/);
    await bad({ regularizer: { kind: 'madry', epsilon: -1 } }, /regularizer.epsilon \(madry\) must be a number > 0/);
    await bad(
      { regularizer: { kind: 'madry', epsilon: 0.3, epsilonWarmup: -1 } },
      /regularizer.epsilonWarmup \(madry\) must be a number of epochs >= 0/,
    );
    await bad({ schedule: { kind: 'step' } }, /everyEpochs must be an integer >= 1/);
    await bad({ batchsize: 3 }, /unknown option 'batchsize'/);
    const wrong = { ...data, labels: data.labels.map(() => 10) };
    const err = await train(model, wrong).catch((e) => e);
    expect(err.message).toMatch(/data.labels\[0\] = 10 is not a class in \[0, 9\]/);
  });
});

describe('batch-norm models in training', () => {
  const BN_SPEC = {
    input: [1, 6, 6],
    layers: [
      { type: 'conv2d', name: 'c1', out: 2, kernel: 3 },
      { type: 'batchnorm2d', name: 'bn' },
      { type: 'relu' },
      { type: 'flatten' },
      { type: 'dense', name: 'fc', out: 3 },
    ],
  };
  const values = (t: { data: Float32Array }) => Array.from(t.data);

  it("initModel follows PyTorch's BatchNorm init; setWeights keeps the running statistics unless given", async () => {
    const { model } = initModel(await cpuEngine(), BN_SPEC, { seed: 4 });
    const w = model.getWeights();
    expect(values(w['bn.weight'])).toEqual([1, 1]);
    expect(values(w['bn.bias'])).toEqual([0, 0]);
    expect(values(w['bn.running_mean'])).toEqual([0, 0]);
    expect(values(w['bn.running_var'])).toEqual([1, 1]);
    const x = { shape: [2, 1, 6, 6], data: Float32Array.from({ length: 72 }, (_, i) => Math.sin(i)) };
    const before = values(await model.forward(x));

    // Parameters only (what training writes): the running statistics stay.
    const params = Object.fromEntries(Object.entries(w).filter(([k]) => !k.includes('running')));
    model.setWeights(params);
    expect(values(model.getWeights()['bn.running_var'])).toEqual([1, 1]);
    expect(values(await model.forward(x))).toEqual(before);

    // Everything getWeights gives (buffers included) round-trips, and given statistics replace the old ones
    // on the device too.
    const all = model.getWeights();
    all['bn.running_var'] = { shape: [2], data: Float32Array.from([4, 4]) };
    model.setWeights(all);
    expect(values(model.getWeights()['bn.running_var'])).toEqual([4, 4]);
    const after = values(await model.forward(x));
    expect(after).not.toEqual(before);

    const bad = { ...all, 'bn.running_var': { shape: [3], data: new Float32Array(3) } };
    expect(() => model.setWeights(bad)).toThrow(SmoothgeoError);
    expect(() => model.setWeights(bad)).toThrow(/running_var/);
  });
});
