import { describe, expect, it } from 'vitest';
import type { Backend, ConvGeom } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu.js';
import type { WasmBackend } from '../src/backend/wasm/wasm.js';
import { createEngine } from '../src/engine.js';
import { relL2, rng, wasmEngine } from './helpers.js';

/**
 * Sweeps of the wasm kernels against the float64 reference at the shapes the LeNet-sized op matrix does not
 * reach: every row remainder of the 4×8 GEMM micro-kernel (M mod 4) and every column remainder (N mod 8),
 * transposes, biases and accumulation; convolutions with odd sizes, padding and stride 2; and memory growth
 * while tensors are live. float32 sums of ≤ 33 O(1) terms: relative error ≲ 1e-6; 1e-5 as in test/ops.test.ts.
 */
const wasm = async () => (await (await wasmEngine()).backendForCall()) as WasmBackend;
const cpu = new CpuBackend();
const TOL = 1e-5;

async function both<T>(
  f: (be: Backend) => T,
  read: (be: Backend, t: T) => Promise<ArrayLike<number>>,
): Promise<[ArrayLike<number>, ArrayLike<number>]> {
  const be = await wasm();
  return [await read(be, f(be)), await read(cpu, f(cpu))];
}

describe('wasm GEMM: every micro-kernel edge against float64', () => {
  const sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 33];
  const r = rng(11);
  const cases: [number, number, number, boolean, boolean][] = [];
  for (const M of sizes)
    for (const N of sizes) cases.push([M, N, sizes[(M * 7 + N) % sizes.length], (M + N) % 2 === 0, (M * N) % 3 === 0]);
  it(`${cases.length} shapes (M, N ∈ {1…9, 31, 33}), transposes, bias and accumulation`, async () => {
    for (const [M, N, K, transA, transB] of cases) {
      const a = Array.from({ length: M * K }, () => r()),
        b = Array.from({ length: K * N }, () => r());
      const bias = Array.from({ length: N }, () => r()),
        acc = Array.from({ length: M * N }, () => r());
      const [got, want] = await both(
        (be) => {
          const A = be.upload(a, transA ? [K, M] : [M, K], 'a'),
            B = be.upload(b, transB ? [N, K] : [K, N], 'b');
          const into = be.upload(acc, [M, N], 'into');
          return be.matmul(A, B, { transA, transB, bias: be.upload(bias, [N], 'bias'), into, label: 'sweep' });
        },
        async (be, t) => (await be.read([t]))[0],
      );
      expect(relL2(got, want), `M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`).toBeLessThan(TOL);
    }
  });
});

describe('wasm convolution passes: odd sizes, padding, stride 2, dilation, groups and depthwise', () => {
  const geoms: ConvGeom[] = [];
  // Last three columns: dilation (dh, dw) and groups (depthwise where groups = c).
  for (const [c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups] of [
    [1, 7, 9, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1],
    [2, 9, 7, 5, 3, 2, 2, 1, 1, 0, 1, 1, 1],
    [3, 8, 8, 9, 5, 5, 2, 2, 2, 2, 1, 1, 1],
    [4, 5, 11, 1, 1, 3, 1, 2, 0, 1, 1, 1, 1],
    [4, 9, 10, 6, 3, 3, 1, 2, 2, 1, 2, 3, 2],
    [5, 7, 7, 10, 3, 3, 2, 2, 1, 1, 1, 1, 5],
    [6, 8, 9, 6, 2, 3, 1, 1, 3, 2, 3, 2, 3],
  ]) {
    const n = 3,
      oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1,
      ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
    geoms.push({ n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow });
  }
  it.each(geoms)('%j', async (g) => {
    const r = rng(g.c * 100 + g.o);
    const cg = g.c / g.groups;
    const x = Array.from({ length: g.n * g.c * g.h * g.w }, () => r()),
      wt = Array.from({ length: g.o * cg * g.kh * g.kw }, () => r());
    const gy = Array.from({ length: g.n * g.o * g.oh * g.ow }, () => r()),
      bias = Array.from({ length: g.o }, () => r());
    const [got, want] = await both(
      (be) => {
        const X = be.upload(x, [g.n, g.c, g.h, g.w], 'x'),
          W = be.upload(wt, [g.o, cg, g.kh, g.kw], 'w'),
          GY = be.upload(gy, [g.n, g.o, g.oh, g.ow], 'gy');
        return [
          be.conv2d(X, W, be.upload(bias, [g.o], 'b'), g),
          be.conv2dBackwardInput(GY, W, g),
          be.conv2dBackwardFilter(GY, X, g),
        ];
      },
      async (be, ts) => (await be.read(ts)).flatMap((t) => Array.from(t)),
    );
    expect(relL2(got, want)).toBeLessThan(TOL);
  });
});

describe('wasm memory', () => {
  it('grows mid-run without disturbing live tensors, and reuses released ones', async () => {
    const be = await wasm();
    const small = be.upload([1, 2, 3, 4], [4], 'small');
    const before = be.reservedBytes;
    const big = be.zeros([16 << 20], 'big'); // 64 MiB: past what the memory held, so it grows
    expect(be.reservedBytes).toBeGreaterThan(before + (64 << 20) - 1);
    expect(Array.from((await be.read([small]))[0])).toEqual([1, 2, 3, 4]);
    be.release(big);
    const again = be.zeros([16 << 20], 'again');
    expect(be.reservedBytes).toBe(before + (64 << 20)); // the released range, not a new one
    be.release(again, small);
  });

  it('a tensor past LIMITS.wasmTensorBytes is refused with LIMIT_EXCEEDED before allocating', async () => {
    const be = await wasm();
    expect(() => be.zeros([2 ** 27], 'huge')).toThrow(
      expect.objectContaining({
        code: 'LIMIT_EXCEEDED',
        message: expect.stringMatching(
          /huge \[134217728\] needs 536870912 bytes, more than the wasm backend holds in one tensor \(268435456 bytes, LIMITS\.wasmTensorBytes\)/,
        ),
      }),
    );
  });
});

describe('wasm arena at its memory maximum', () => {
  it("an allocation past the memory's maximum is LIMIT_EXCEEDED and names the tensor and its shape", async () => {
    const { Arena } = await import('../src/backend/wasm/arena.js');
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const arena = new Arena(memory, 0, 4 * 65536);
    const at = arena.alloc(65536, () => 'first [16384]');
    expect(arena.alloc(2 * 65536, () => 'second [32768]')).toBe(at + 65536); // grows within the maximum
    expect(() => arena.alloc(2 * 65536, () => 'logits [2, 16384]')).toThrow(
      expect.objectContaining({
        code: 'LIMIT_EXCEEDED',
        message: expect.stringMatching(
          /^logits \[2, 16384\] needs the wasm backend's linear memory to reach 327680 bytes, past its 262144-byte maximum/,
        ),
      }),
    );
  });
});

describe('wasm lifecycle', () => {
  it('memory in live tensors, trim frees nothing, profile says why it cannot time, dispose refuses later calls', async () => {
    const engine = await createEngine({ backend: 'wasm' });
    const be = await engine.backendForCall();
    const t = be.zeros([1000], 't');
    const m = engine.memory()!;
    expect(m.allocatedBytes).toBeGreaterThanOrEqual(4000);
    expect(m.peakBytes).toBeGreaterThanOrEqual(m.allocatedBytes);
    expect(m.uniformBytes).toBe(0);
    be.release(t);
    expect(engine.memory()!.allocatedBytes).toBe(m.allocatedBytes - 4032); // 4000 bytes in 64-byte classes
    expect(engine.trim()).toBe(0);
    const p = await engine.profile(async () => 7);
    expect(p).toMatchObject({ result: 7, supported: false, reason: expect.stringMatching(/wasm backend/) });
    // Which build runs (relaxed SIMD where it validates), how many threads and why.
    expect(engine.describe()).toMatch(
      /^backend wasm — WebAssembly (?:SIMD128 kernels \(relaxed SIMD does not validate in this engine\)|relaxed-SIMD kernels \(f32x4\.relaxed_madd multiply-adds\)), AssemblyScript, (\d+) threads? \(default: the \1 available cores?\) \(requested\)$/,
    );
    engine.dispose();
    await expect(engine.backendForCall()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });
});

describe('wasm SIMD softplus (float32 exp and log1p polynomials) against float64', () => {
  // Per element, not only in norm: the SIMD path must hold float32 accuracy over the whole range, including
  // the far negative tail where softplus ≈ e^{βz}/β is tiny and a naive log(1 + e) loses every digit.
  // float32 rounding is 6e-8 relative; exp's polynomial and range reduction, the division and the log add a
  // few roundings each: 1e-6 relative per element (≈ 16 ulp) bounds them with margin and catches any real mistake.
  // Below 1e-30 (products of tails near float32's underflow, 1.2e-38) only an absolute bound makes sense.
  const zs = Array.from({ length: 4001 }, (_, i) => -20 + i * 0.01);
  it.each([1, 10, 0.5])(
    'β = %s: value, tangent, backward and second-order terms per element within 1e-6 relative',
    async (beta) => {
      const be = await wasm();
      const z = Float32Array.from(zs),
        zdot = Float32Array.from(zs, (v, i) => Math.cos(i)),
        gy = Float32Array.from(zs, (v, i) => Math.sin(i) + 2);
      const Z = be.upload(z, [z.length], 'z'),
        ZD = be.upload(zdot, [z.length], 'zdot'),
        GY = be.upload(gy, [z.length], 'gy');
      const f = be.activation('softplus', beta, Z, ZD),
        b = be.activationBackward('softplus', beta, Z, GY, ZD, null);
      const [y, ydot, gz, gzdot] = await be.read([f.y, f.ydot!, b.gz, b.gzdot!]);
      const { activationDerivatives } = await import('../src/backend/activation-math.js');
      for (let i = 0; i < z.length; i++) {
        // activationDerivatives forms f″ = β·s·(1 − s), which loses digits to cancellation in float64 too once
        // βz ≫ 0 (1 − s ≈ e^{−βz}): the exact twin β·e/(1 + e)² with e = e^{−|βz|} is the reference for f″ here.
        const e = Math.exp(-Math.abs(beta * z[i]));
        const d = { ...activationDerivatives('softplus', beta, z[i]), d2: (beta * e) / (1 + e) ** 2 };
        // βz itself is rounded to float32 (½ ulp = 6e-8 relative), and exp(−|βz|) has condition number |βz|, so
        // the exp-dependent tails carry 6e-8·|βz| relative on top; twice that is added to the bound.
        const rel = 1e-6 + 1.2e-7 * Math.abs(beta * z[i]);
        const close = (got: number, want: number, what: string) =>
          expect(Math.abs(got - want), `${what} at z = ${z[i]}`).toBeLessThanOrEqual(rel * Math.abs(want) + 1e-30);
        close(y[i], d.f, 'f');
        close(ydot[i], d.d1 * zdot[i], 'ḟ');
        close(gz[i], d.d1 * gy[i], 'z̄');
        close(gzdot[i], d.d2 * zdot[i] * gy[i], 'z̄ tangent');
      }
      be.release(Z, ZD, GY, f.y, f.ydot, b.gz, b.gzdot);
    },
  );
});

describe('wasm SIMD tanh and sigmoid (float32 polynomials) against float64', () => {
  // Every element of a range takes the SIMD path (the last 1–3 on a partly filled vector). References in
  // float64 in forms without cancellation: tanh′ = 4e/(1 + e)² with e = e^{−2|z|} (1 − tanh² is 0 in float64
  // past |z| ≈ 19), σ′ = e/(1 + e)² and σ″ = −σ′·tanh(z/2) with e = e^{−|z|}. The kernels add a few float32
  // roundings to exp's polynomial (9.2e-8) and tanh's series (truncation 1.9e-9): measured ≤ 4.6e-7
  // relative (8 ulp); 1e-6 per element as for softplus. Below 1e-30 (past exp's underflow) only absolute.
  const zs = Array.from({ length: 8001 }, (_, i) => -40 + i * 0.01);
  for (const v of [1e-30, 1e-10, 1e-5, 0.001, 0.2999999, 0.3, 0.3000001, 0.6, 50, 87, 88, 100]) zs.push(v, -v);
  const exact = {
    tanh: (z: number) => {
      const e = Math.exp(-2 * Math.abs(z)),
        f = Math.tanh(z),
        d1 = (4 * e) / (1 + e) ** 2;
      return { f, d1, d2: -2 * f * d1 };
    },
    sigmoid: (z: number) => {
      const e = Math.exp(-Math.abs(z)),
        d1 = e / (1 + e) ** 2;
      return { f: z >= 0 ? 1 / (1 + e) : e / (1 + e), d1, d2: -d1 * Math.tanh(z / 2) };
    },
  };
  it.each(['tanh', 'sigmoid'] as const)(
    '%s: value, tangent, backward and second-order terms per element within 1e-6 relative over ±100',
    async (kind) => {
      const be = await wasm();
      // An odd count: the last element is a tail lane.
      const z = Float32Array.from(zs),
        zdot = Float32Array.from(zs, (v, i) => Math.cos(i)),
        gy = Float32Array.from(zs, (v, i) => Math.sin(i) + 2);
      const Z = be.upload(z, [z.length], 'z'),
        ZD = be.upload(zdot, [z.length], 'zdot'),
        GY = be.upload(gy, [z.length], 'gy');
      const f = be.activation(kind, 1, Z, ZD),
        b = be.activationBackward(kind, 1, Z, GY, ZD, null);
      const [y, ydot, gz, gzdot] = await be.read([f.y, f.ydot!, b.gz, b.gzdot!]);
      for (let i = 0; i < z.length; i++) {
        const d = exact[kind](z[i]);
        const close = (got: number, want: number, what: string) =>
          expect(Math.abs(got - want), `${what} at z = ${z[i]}`).toBeLessThanOrEqual(1e-6 * Math.abs(want) + 1e-30);
        close(y[i], d.f, 'f');
        close(ydot[i], d.d1 * zdot[i], 'ḟ');
        close(gz[i], d.d1 * gy[i], 'z̄');
        close(gzdot[i], d.d2 * zdot[i] * gy[i], 'z̄ tangent');
      }
      be.release(Z, ZD, GY, f.y, f.ydot, b.gz, b.gzdot);
    },
  );
});

describe('wasm threads', () => {
  // LeNet (convolutions, pooling, softplus) and the MLP (its dense layers: GEMM panels with the fused epilogue).
  it.each(['lenet', 'mlp'])(
    '%s: 2 threads give bitwise the same SmoothGrad, gradient and HVP as 1 thread (work split by examples, GEMM panels and element ranges)',
    async (name) => {
      const { createEngine } = await import('../src/engine.js');
      const { loadModel } = await import('../src/graph/model.js');
      const { smoothGrad } = await import('../src/attribution/methods.js');
      const { oracleCases } = await import('./helpers.js');
      const c = oracleCases().find((k) => k.name === name)!;
      const results = [];
      for (const threads of [1, 2]) {
        const engine = await createEngine({ backend: 'wasm', threads });
        expect(engine.describe()).toContain(`${threads} thread`);
        const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
        const x = c.tensors.get('x')!,
          v = c.tensors.get('v')!,
          objective = { kind: 'crossEntropy' as const, labels: c.json.labels };
        results.push([
          (await smoothGrad(model, x, { target: c.json.target, sigma: 0.15, samples: 64, seed: 3 })).attributions.data,
          (await model.inputGradient(x, objective)).data,
          (await model.inputHvp(x, v, objective)).data,
        ]);
        engine.dispose();
      }
      for (let i = 0; i < 3; i++) expect(Array.from(results[1][i])).toEqual(Array.from(results[0][i]));
    },
  );
});
