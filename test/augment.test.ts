import { beforeAll, describe, expect, it } from 'vitest';
import { checkAugment, shiftAt, shiftImage } from '../src/data/augment.js';
import { loadMnist, subset, type Dataset } from '../src/data/mnist.js';
import { SmoothgeoError } from '../src/errors.js';
import { initModel } from '../src/train/init.js';
import { train } from '../src/train/train.js';
import { cpuEngine } from './helpers.js';

const SPEC = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', name: 'conv1', out: 4, kernel: 5, stride: 2 },
    { type: 'relu' },
    { type: 'maxpool2d', kernel: 2 },
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', out: 10 },
  ],
};

let data: Dataset;
beforeAll(async () => {
  const { train: t } = await loadMnist({ seed: 2 });
  data = subset(
    t,
    Array.from({ length: 64 }, (_, i) => i),
  );
});

describe('shiftImage', () => {
  it('moves every pixel by (dx, dy) and fills the uncovered border with zeros', () => {
    // 2 channels of 3 × 4, pixel values 1 … 24.
    const src = Float32Array.from({ length: 24 }, (_, i) => i + 1);
    const dst = new Float32Array(24).fill(-1);
    shiftImage(src, dst, 2, 3, 4, 1, 1); // right 1, down 1
    // prettier-ignore
    expect(Array.from(dst)).toEqual([
      0, 0, 0, 0,   0, 1, 2, 3,    0, 5, 6, 7,
      0, 0, 0, 0,   0, 13, 14, 15, 0, 17, 18, 19,
    ]);
    shiftImage(src, dst, 2, 3, 4, -2, -1); // left 2, up 1
    // prettier-ignore
    expect(Array.from(dst)).toEqual([
      7, 8, 0, 0,   11, 12, 0, 0,  0, 0, 0, 0,
      19, 20, 0, 0, 23, 24, 0, 0,  0, 0, 0, 0,
    ]);
    shiftImage(src, dst, 2, 3, 4, 0, 0);
    expect(Array.from(dst)).toEqual(Array.from(src));
    shiftImage(src, dst, 2, 3, 4, 4, 0); // shifted out entirely
    expect(dst.every((v) => v === 0)).toBe(true);
  });

  it('on a real digit: dst[y][x] = src[y − dy][x − dx] inside, 0 outside', () => {
    const src = data.x.data.subarray(0, 784);
    const dst = new Float32Array(784);
    shiftImage(src, dst, 1, 28, 28, -2, 1);
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) {
        const sy = y - 1,
          sx = x + 2;
        const want = sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? src[sy * 28 + sx] : 0;
        expect(dst[y * 28 + x]).toBe(want);
      }
  });
});

describe('shiftAt', () => {
  it('draws each (dx, dy) in −s … s from (seed, example, epoch), every pair about equally often', () => {
    const counts = new Map<string, number>();
    for (let id = 0; id < 5000; id++) {
      const [dx, dy] = shiftAt(7, id, 3, 2);
      expect(Math.abs(dx) <= 2 && Math.abs(dy) <= 2).toBe(true);
      counts.set(`${dx},${dy}`, (counts.get(`${dx},${dy}`) ?? 0) + 1);
      expect(shiftAt(7, id, 3, 2)).toEqual([dx, dy]);
    }
    expect(counts.size).toBe(25);
    // 200 expected per pair; a binomial standard deviation is ≈ 14, so ±80 is beyond 5σ.
    for (const n of counts.values()) expect(Math.abs(n - 200)).toBeLessThan(80);
    const same = Array.from({ length: 100 }, (_, id) => shiftAt(7, id, 3, 2).join() === shiftAt(7, id, 4, 2).join());
    expect(same.filter(Boolean).length).toBeLessThan(20); // a new epoch redraws (1/25 agree by chance)
    expect(shiftAt(7, 0, 0, 0)).toEqual([0, 0]);
  });

  it('checkAugment names what is wrong', () => {
    expect(checkAugment(undefined, 'train')).toBeNull();
    expect(checkAugment({ shift: 0 }, 'train')).toBeNull();
    expect(checkAugment({ shift: 2 }, 'train')).toEqual({ shift: 2 });
    expect(() => checkAugment({ shift: 1.5 }, 'train')).toThrow(/augment.shift must be an integer >= 0/);
    expect(() => checkAugment({ shift: -1 }, 'train')).toThrow(SmoothgeoError);
    expect(() => checkAugment({ rotate: 3 }, 'train')).toThrow(/unknown augment option 'rotate'/);
    expect(() => checkAugment(2, 'train')).toThrow(/augment must be \{ shift/);
  });
});

describe('train with augment', () => {
  const run = async (d: Dataset, augment?: { shift: number }, epochs = 1) => {
    const { model } = initModel(await cpuEngine(), SPEC, { seed: 3 });
    const r = await train(model, d, { epochs, batchSize: 16, seed: 9, augment, progress: false });
    return { w: model.getWeights(), r };
  };
  const same = (a: Record<string, { data: Float32Array }>, b: Record<string, { data: Float32Array }>) =>
    Object.keys(a).every((k) => Buffer.from(a[k].data.buffer).equals(Buffer.from(b[k].data.buffer)));

  it('trains exactly as on the digits shifted by shiftAt(seed, id, epoch), and is deterministic', async () => {
    // The same data with every digit shifted ahead of time by its epoch-0 draw: one epoch without
    // augmentation must give the same weights, bit for bit.
    const pre = { ...data, x: { shape: data.x.shape, data: new Float32Array(data.x.data.length) } };
    data.ids.forEach((id, i) => {
      const [dx, dy] = shiftAt(9, id, 0, 2);
      shiftImage(
        data.x.data.subarray(i * 784, (i + 1) * 784),
        pre.x.data.subarray(i * 784, (i + 1) * 784),
        1,
        28,
        28,
        dx,
        dy,
      );
    });
    const aug = await run(data, { shift: 2 });
    const shifted = await run(pre);
    const plain = await run(data);
    expect(same(aug.w, shifted.w)).toBe(true);
    expect(same(aug.w, plain.w)).toBe(false);
    expect(same(aug.w, (await run(data, { shift: 2 })).w)).toBe(true);
    // Epoch 1 redraws the shifts: two epochs on the pre-shifted digits differ from two augmented epochs.
    expect(same((await run(data, { shift: 2 }, 2)).w, (await run(pre, undefined, 2)).w)).toBe(false);
  });

  it('refuses augmentation for a model whose inputs are not images', async () => {
    const { model } = initModel(
      await cpuEngine(),
      { input: [4], layers: [{ type: 'dense', name: 'fc', out: 2 }] },
      {
        seed: 1,
      },
    );
    const flat = { x: { shape: [2, 4], data: new Float32Array(8) }, labels: [0, 1], ids: [0, 1] };
    await expect(train(model, flat, { augment: { shift: 1 }, progress: false })).rejects.toThrow(
      /augment.shift translates images \[C, H, W\]; this model takes \[4\] inputs/,
    );
  });
});
