import { describe, expect, it } from 'vitest';
import { robustAccuracy } from '../src/attack/robust.js';
import { loadMnist, subset } from '../src/data/mnist.js';
import { SmoothgeoError } from '../src/errors.js';
import { initModel } from '../src/train/init.js';
import { cpuEngine } from './helpers.js';

/**
 * A linear 2-class model z = W x + b with W = [0; w], w = (1, −2, 0.5, −1), b = (0, 0.75). The margin of
 * class 1 over class 0 is m(x) = w·x + 0.75, and the worst L∞ perturbation of radius ε lowers it by exactly
 * ε‖w‖₁ (x − ε·sign(w), inside [0, 1] here). The cross-entropy's input gradient is a positive multiple of
 * ∓w, so PGD's signed steps walk straight to that corner: 10 steps of 0.01 cross the box (2ε = 0.1) from
 * any start, and 40 get there. An example of class 1 is robust iff m > ε‖w‖₁ = 0.225 (ε = 0.05); one of
 * class 0 iff −m > 0.225.
 */
async function linear() {
  const { model } = initModel(
    await cpuEngine(),
    { input: [4], layers: [{ type: 'dense', name: 'fc', out: 2 }] },
    {
      seed: 1,
    },
  );
  model.setWeights({
    'fc.weight': { shape: [2, 4], data: Float32Array.from([0, 0, 0, 0, 1, -2, 0.5, -1]) },
    'fc.bias': { shape: [2], data: Float32Array.from([0, 0.75]) },
  });
  return model;
}
// x = (0.5 + m, 0.5, 0.5, 0.5) has margin m (w·(0.5, …) = −0.75 cancels the bias).
const margins = [0.2, 0.25, 0.22, 0.23, -0.1, 0.4, -0.3, -0.2];
const labels = [1, 1, 1, 1, 1, 1, 0, 0];
const x = { shape: [8, 4], data: Float32Array.from(margins.flatMap((m) => [0.5 + m, 0.5, 0.5, 0.5])) };

describe('robustAccuracy', () => {
  it('a linear model: robust exactly where the margin exceeds ε‖w‖₁', async () => {
    const model = await linear();
    const r = await robustAccuracy(model, x, { labels, epsilon: 0.05, stepSize: 0.01, iterations: 40, seed: 3 });
    // Clean: all right but the fifth (margin −0.1 for class 1).
    expect(r.accuracy).toBe(7 / 8);
    expect(r.robust).toEqual([false, true, false, true, false, true, true, false]);
    expect(r.robustAccuracy).toBe(4 / 8);
    expect(r.seed).toBe(3);
    const short = await robustAccuracy(model, x, {
      labels,
      epsilon: 0.05,
      stepSize: 0.01,
      iterations: 2,
      randomStart: false,
    });
    // Two steps lower each margin by 2·0.01·4.5 = 0.09: only the wrong one stays wrong.
    expect(short.robust).toEqual([true, true, true, true, false, true, true, true]);
  });

  it('no steps and no start: robust is clean correctness', async () => {
    const model = await linear();
    const r = await robustAccuracy(model, x, { labels, epsilon: 0.05, iterations: 0, randomStart: false });
    expect(r.robust).toEqual([true, true, true, true, false, true, true, true]);
    expect(r.robustAccuracy).toBe(r.accuracy);
  });

  it('on real digits: the same result for any batch size (each start is drawn from the seed and the example index)', async () => {
    const { test } = await loadMnist({ seed: 1 });
    const few = subset(
      test,
      Array.from({ length: 6 }, (_, i) => i),
    );
    const spec = {
      input: [1, 28, 28],
      layers: [
        { type: 'conv2d', name: 'conv1', out: 2, kernel: 5, stride: 3 },
        { type: 'relu' },
        { type: 'flatten' },
        { type: 'dense', name: 'fc', out: 10 },
      ],
    };
    const { model } = initModel(await cpuEngine(), spec, { seed: 2 });
    const o = { labels: few.labels, epsilon: 0.3, stepSize: 0.05, iterations: 3, seed: 5 };
    const a = await robustAccuracy(model, few.x, { ...o, batchSize: 6 });
    const batches: number[] = [];
    const b = await robustAccuracy(model, few.x, { ...o, batchSize: 4, onBatch: (n) => batches.push(n) });
    expect(b).toEqual(a);
    expect(batches).toEqual([4, 6]);
  });

  it('rejects bad options by name', async () => {
    const model = await linear();
    const bad = async (o: object, re: RegExp) => {
      const err = await robustAccuracy(model, x, { labels, epsilon: 0.1, ...o } as never).catch((e) => e);
      expect(err).toBeInstanceOf(SmoothgeoError);
      expect(err.message).toMatch(re);
    };
    await bad({ epsilon: 0 }, /robustAccuracy: epsilon must be a finite number > 0/);
    await bad({ iterations: -1 }, /robustAccuracy: iterations must be an integer >= 0/);
    await bad({ labels: [1] }, /labels must be an array of 8 class indices/);
    await bad({ batchSize: 0 }, /batchSize must be an integer >= 1/);
    await bad({ steps: 3 }, /unknown option 'steps'/);
  });
});
