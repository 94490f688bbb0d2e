import { describe, expect, it, vi } from 'vitest';
import type { Backend, ConvGeom } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu.js';
import type { WasmBackend } from '../src/backend/wasm/wasm.js';
import { createEngine } from '../src/engine.js';
import { convGeom as geom, relL2, rng, wasmEngine } from './helpers.js';

/**
 * The wasm backward-filter pass (kernels/conv2d.ts: a register-blocked SIMD reduction over output pixels,
 * in chunks of examples fixed by the batch size, summed in chunk order) against the float64 reference, and
 * bitwise across thread counts.
 *
 * Tolerance from the math: inputs are float32 values (so both backends see the same numbers); each weight's
 * gradient is a float32 sum whose longest sequential chain is at most m = n·⌈P₈/4⌉ + 16 additions (a lane
 * of a tile accumulates every 4th pixel of each example of its chunk, then 2 lane additions, ≤ 12 chunk
 * additions and the add into an accumulator; P₈ = oh·round8(ow) bounds the padded pixels). With unit
 * roundoff u = 2⁻²⁴ each element then obeys |got − want| ≤ (m + 1)·u·(Σ|ȳ·x| + |into|), where Σ|ȳ·x| is the
 * reference's backward filter of |ȳ| and |x|. That worst-case bound is loose for long sums, so the relative
 * L2 error is also held to 1e-5 as in test/ops.test.ts (one example's pixel dropped or counted twice moves it
 * past 1e-3).
 */
const cpu = new CpuBackend();

const CASES: [string, ConvGeom][] = [
  ['LeNet conv1, input read in place (ow = 24), 12 chunks of 50', geom(50, 1, 28, 28, 6, [5, 5])],
  ['LeNet conv2 (ow = 8), 4 + 4 + 4 channels', geom(50, 6, 12, 12, 12, [5, 5])],
  ['N = 1, padding 1, ow = 13 (Ȳ rows padded)', geom(1, 2, 9, 13, 3, [3, 3], [1, 1], [1, 1])],
  ['o = 1 (the 1×8 tile), K = 9', geom(3, 1, 7, 9, 1, [3, 3])],
  ['o = 2 (the 2×4 tile), K = 6, ow = 7', geom(2, 2, 5, 9, 2, [1, 3])],
  ['o = 5: one 4-channel block and a 1×8 tile, K = 27', geom(3, 3, 8, 8, 5, [3, 3], [1, 1], [1, 1])],
  ['o = 7: 4 + 2 + 1 channels, K = 10, non-square kernel', geom(2, 5, 6, 10, 7, [2, 1], [1, 1], [0, 2])],
  ['stride (2, 1): the direct path with a row stride, padding (2, 1)', geom(3, 2, 11, 9, 6, [3, 3], [2, 1], [2, 1])],
  ['stride (1, 2): the im2col path, P = 35 (Ȳ padded to 40)', geom(2, 3, 7, 14, 5, [3, 4], [1, 2], [1, 1])],
  ['stride 2, padding 2, 5×5 (im2col path)', geom(3, 3, 8, 8, 9, [5, 5], [2, 2], [2, 2])],
  ['dilation (2, 3) with padding, stride 1', geom(2, 4, 9, 10, 6, [3, 3], [1, 1], [2, 1], [2, 3])],
  ['2 groups, dilation and stride (1, 2)', geom(3, 4, 9, 10, 6, [3, 3], [1, 2], [2, 1], [2, 3], 2)],
  ['depthwise (groups = c = 5), stride 1, padding 1', geom(2, 5, 7, 7, 10, [3, 3], [1, 1], [1, 1], [1, 1], 5)],
  ['K = 1600: 256 KiB of accumulators a block, so blocks of 8 + 4 channels', geom(9, 64, 6, 6, 12, [5, 5])],
  ['|W̄| = 800 KiB: 10 chunks (partials ≤ 8 MiB), blocks of 4 channels, P = 1', geom(13, 128, 5, 5, 64, [5, 5])],
];

const f32 = (r: ReturnType<typeof rng>, n: number) => Array.from({ length: n }, () => Math.fround(r(-1, 1)));

interface Inputs {
  x: number[];
  gy: number[];
  into: number[];
}
function inputs(g: ConvGeom, seed: number): Inputs {
  const r = rng(seed);
  return {
    x: f32(r, g.n * g.c * g.h * g.w),
    gy: f32(r, g.n * g.o * g.oh * g.ow),
    into: f32(r, (g.o * g.c * g.kh * g.kw) / g.groups),
  };
}

async function backwardFilter(be: Backend, g: ConvGeom, v: Inputs, into: boolean): Promise<ArrayLike<number>> {
  const X = be.upload(v.x, [g.n, g.c, g.h, g.w], 'x'),
    GY = be.upload(v.gy, [g.n, g.o, g.oh, g.ow], 'gy');
  const shape = [g.o, g.c / g.groups, g.kh, g.kw];
  const acc = into ? be.upload(v.into, shape, 'into') : null;
  const gw = be.conv2dBackwardFilter(GY, X, g, acc);
  const [out] = await be.read([gw]);
  be.release(X, GY, gw, ...(acc && acc !== gw ? [acc] : []));
  return out;
}

describe('wasm conv2d backward filter against float64', () => {
  it.each(CASES.map(([name, g], i) => [i, name, g] as const))('%i: %s', async (i, _name, g) => {
    const be = (await (await wasmEngine()).backendForCall()) as WasmBackend;
    const v = inputs(g, 500 + i);
    const abs = { x: v.x.map(Math.abs), gy: v.gy.map(Math.abs), into: v.into.map(Math.abs) };
    const absSum = await backwardFilter(cpu, g, abs, true);
    const m = g.n * Math.ceil((g.oh * Math.ceil(g.ow / 8) * 8) / 4) + 16;
    const u = 2 ** -24;
    for (const into of [false, true]) {
      const got = await backwardFilter(be, g, v, into),
        want = await backwardFilter(cpu, g, v, into);
      let worst = 0;
      for (let j = 0; j < want.length; j++) {
        const bound = (m + 1) * u * (absSum[j] - (into ? 0 : abs.into[j]));
        worst = Math.max(worst, Math.abs(got[j] - want[j]) / bound);
      }
      expect(worst, `into = ${into}: the largest error as a fraction of its bound`).toBeLessThanOrEqual(1);
      expect(relL2(got, want), `into = ${into}`).toBeLessThan(1e-5);
    }
  });
});

describe('wasm conv2d backward filter across threads', () => {
  it('1, 2 and 3 threads give bitwise the same gradient (items split over the threads; 12, 7 and 10 chunks)', async () => {
    const geoms = [
      geom(50, 1, 28, 28, 6, [5, 5]),
      geom(7, 6, 12, 12, 12, [5, 5]),
      geom(9, 64, 6, 6, 12, [5, 5]),
      geom(20, 4, 16, 16, 16, [3, 3], [2, 2], [1, 1]),
      geom(13, 128, 5, 5, 64, [5, 5]),
    ];
    const results: ArrayLike<number>[][] = [];
    for (const threads of [1, 2, 3]) {
      const engine = await createEngine({ backend: 'wasm', threads });
      const be = (await engine.backendForCall()) as WasmBackend;
      // The pool's fork-join call, watched to see that each pass really is cut into chunks for every thread.
      const pool = (be as unknown as { pool: { run: (name: string, chunks: number) => void } | null }).pool;
      const run = pool ? vi.spyOn(pool, 'run') : null;
      const out: ArrayLike<number>[] = [];
      for (const [i, g] of geoms.entries()) {
        out.push(await backwardFilter(be, g, inputs(g, 900 + i), i % 2 === 1));
        if (run) {
          const [name, chunks] = run.mock.lastCall!;
          expect([name, chunks >= threads], JSON.stringify(g)).toEqual(['conv2dBackwardFilter', true]);
        }
      }
      expect(run === null).toBe(threads === 1);
      results.push(out);
      engine.dispose();
    }
    for (let t = 1; t < results.length; t++)
      for (let i = 0; i < results[0].length; i++)
        expect(Array.from(results[t][i]), `${t + 1} threads, geometry ${i}`).toEqual(Array.from(results[0][i]));
  });
});
