import { describe, expect, it } from 'vitest';
import type { Backend, BTensor } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu.js';
import { opFromSpec, type Op } from '../src/ops/index.js';
import type { LayerSpec, ParamValue } from '../src/ops/op.js';
import { FLOAT32_BACKENDS, relL2, rng } from './helpers.js';

/**
 * Every op × every pass, on webgpu against the float64 reference, and the float64 passes against central
 * finite differences. Shapes are small (software adapters are slow) but cover stride 2, padding,
 * rectangular kernels, odd sizes, overlapping windows, batch 1 and > 1, and every GEMM plan (gemm-plan.ts):
 * the tiled kernel with and without split-K, the K-parallel kpar (test/kpar.test.ts has more), and the direct
 * kernel's thread blocks (M ≤ 4 rows; 1–16 columns along M in one group; 4×4), with and without vec4
 * loads.
 */
interface Case {
  name: string;
  layer: LayerSpec;
  inShape: number[];
  batch: number;
}
const CASES: Case[] = [
  {
    name: 'conv2d 3×3 stride 2 pad 1, odd sizes',
    layer: { type: 'conv2d', name: 'c', out: 3, kernel: 3, stride: 2, padding: 1 },
    inShape: [2, 7, 6],
    batch: 3,
  },
  {
    name: 'conv2d 3×2 kernel, stride [1,2], pad [0,1], no bias',
    layer: { type: 'conv2d', name: 'c', out: 4, kernel: [3, 2], stride: [1, 2], padding: [0, 1], bias: false },
    inShape: [3, 5, 7],
    batch: 2,
  },
  {
    name: 'conv2d with a long filter-gradient K (K-parallel kpar, two chunks), one input channel',
    layer: { type: 'conv2d', name: 'c', out: 2, kernel: 3 },
    inShape: [1, 48, 48],
    batch: 2,
  },
  {
    name: 'conv2d, 6 output channels (one 6-wide column group)',
    layer: { type: 'conv2d', name: 'c', out: 6, kernel: 3, padding: 1 },
    inShape: [2, 5, 5],
    batch: 2,
  },
  {
    name: 'conv2d, 11 output channels (one 11-wide column group)',
    layer: { type: 'conv2d', name: 'c', out: 11, kernel: [2, 3], stride: 2 },
    inShape: [3, 7, 8],
    batch: 2,
  },
  {
    name: 'conv2d, 64×64 tiles (forward and filter gradient)',
    layer: { type: 'conv2d', name: 'c', out: 64, kernel: 3 },
    inShape: [8, 10, 10],
    batch: 1,
  },
  {
    name: 'conv2d dilation 2, stride 2, pad 2',
    layer: { type: 'conv2d', name: 'c', out: 3, kernel: 3, stride: 2, padding: 2, dilation: 2 },
    inShape: [2, 9, 8],
    batch: 2,
  },
  {
    name: 'conv2d dilation [2,3], 2×2 kernel, no padding',
    layer: { type: 'conv2d', name: 'c', out: 2, kernel: 2, dilation: [2, 3] },
    inShape: [3, 6, 7],
    batch: 2,
  },
  {
    name: 'conv2d groups 2 (4 → 6 channels), stride 2, pad 1',
    layer: { type: 'conv2d', name: 'c', out: 6, kernel: 3, stride: 2, padding: 1, groups: 2 },
    inShape: [4, 7, 6],
    batch: 2,
  },
  {
    name: 'conv2d depthwise (groups = channels = 3, 2 per group), dilation 2',
    layer: { type: 'conv2d', name: 'c', out: 6, kernel: 3, padding: 2, dilation: 2, groups: 3 },
    inShape: [3, 6, 5],
    batch: 2,
  },
  { name: 'dense, small batch', layer: { type: 'dense', name: 'fc', out: 5 }, inShape: [13], batch: 3 },
  { name: 'dense, batch 1 (GEMV-like blocks)', layer: { type: 'dense', name: 'fc', out: 9 }, inShape: [20], batch: 1 },
  {
    name: 'dense with vec4 loads (sizes divisible by 4)',
    layer: { type: 'dense', name: 'fc', out: 8 },
    inShape: [12],
    batch: 5,
  },
  { name: 'dense, wide, vec4 loads', layer: { type: 'dense', name: 'fc', out: 68 }, inShape: [36], batch: 24 },
  {
    name: 'dense, wide, no bias',
    layer: { type: 'dense', name: 'fc', out: 70, bias: false },
    inShape: [37],
    batch: 20,
  },
  { name: 'dense, 64×64 tiles, vec4 loads', layer: { type: 'dense', name: 'fc', out: 68 }, inShape: [72], batch: 64 },
  { name: 'dense, 64×64 tiles, odd sizes', layer: { type: 'dense', name: 'fc', out: 65 }, inShape: [67], batch: 66 },
  {
    name: 'dense, 64×64 tiles with split-K (K = 1100: 3 chunks)',
    layer: { type: 'dense', name: 'fc', out: 64 },
    inShape: [1100],
    batch: 64,
  },
  {
    name: 'maxpool2d 3×3 stride 2 (overlapping)',
    layer: { type: 'maxpool2d', kernel: 3, stride: 2 },
    inShape: [2, 7, 7],
    batch: 2,
  },
  { name: 'maxpool2d 2×2', layer: { type: 'maxpool2d', kernel: 2 }, inShape: [3, 6, 8], batch: 2 },
  {
    name: 'avgpool2d 3×3 stride 2 (overlapping)',
    layer: { type: 'avgpool2d', kernel: 3, stride: 2 },
    inShape: [2, 7, 7],
    batch: 2,
  },
  {
    name: 'avgpool2d [2,3] stride [2,1]',
    layer: { type: 'avgpool2d', kernel: [2, 3], stride: [2, 1] },
    inShape: [1, 6, 5],
    batch: 3,
  },
  {
    name: 'maxpool2d 3×3 stride 2 pad 1 (ResNet stem)',
    layer: { type: 'maxpool2d', kernel: 3, stride: 2, padding: 1 },
    inShape: [2, 7, 6],
    batch: 2,
  },
  {
    name: 'maxpool2d 2×2 ceilMode (a partial last window)',
    layer: { type: 'maxpool2d', kernel: 2, ceilMode: true },
    inShape: [2, 5, 7],
    batch: 2,
  },
  {
    name: 'avgpool2d 3×3 stride 2 pad 1, padding counted',
    layer: { type: 'avgpool2d', kernel: 3, stride: 2, padding: 1 },
    inShape: [2, 6, 7],
    batch: 2,
  },
  {
    name: 'avgpool2d [3,2] pad [1,1] ceilMode, padding not counted',
    layer: { type: 'avgpool2d', kernel: [3, 2], stride: 2, padding: [1, 1], ceilMode: true, countIncludePad: false },
    inShape: [1, 6, 5],
    batch: 2,
  },
  { name: 'relu', layer: { type: 'relu' }, inShape: [2, 3, 5], batch: 2 },
  { name: 'softplus β=10', layer: { type: 'softplus', beta: 10 }, inShape: [2, 3, 5], batch: 2 },
  { name: 'tanh', layer: { type: 'tanh' }, inShape: [31], batch: 3 },
  { name: 'sigmoid', layer: { type: 'sigmoid' }, inShape: [31], batch: 3 },
  { name: 'flatten', layer: { type: 'flatten' }, inShape: [2, 3, 4], batch: 2 },
  { name: 'batchnorm2d', layer: { type: 'batchnorm2d', name: 'bn' }, inShape: [3, 4, 5], batch: 2 },
  {
    name: 'batchnorm2d, ε = 0.1, one channel',
    layer: { type: 'batchnorm2d', name: 'bn', eps: 0.1 },
    inShape: [1, 3, 3],
    batch: 3,
  },
  { name: 'batchnorm1d [C]', layer: { type: 'batchnorm1d', name: 'bn' }, inShape: [7], batch: 3 },
  {
    name: 'batchnorm1d [C, L], many values per channel (strided sums)',
    layer: { type: 'batchnorm1d', name: 'bn' },
    inShape: [2, 300],
    batch: 2,
  },
  { name: 'globalavgpool2d', layer: { type: 'globalavgpool2d' }, inShape: [3, 5, 4], batch: 2 },
  { name: 'reshape', layer: { type: 'reshape', shape: [4, 6] }, inShape: [2, 3, 4], batch: 2 },
  {
    name: 'mul by a per-channel constant [C, 1, 1]',
    layer: { type: 'mul', param: 'scale', shape: [3, 1, 1] },
    inShape: [3, 4, 5],
    batch: 2,
  },
  {
    name: 'div by a per-channel constant [1, C, 1, 1] (batch dimension 1)',
    layer: { type: 'div', param: 'std', shape: [1, 3, 1, 1] },
    inShape: [3, 4, 5],
    batch: 2,
  },
  {
    name: 'sub of a scalar constant',
    layer: { type: 'sub', param: 'onnx::Sub_7', shape: [1] },
    inShape: [2, 3, 5],
    batch: 3,
  },
  {
    name: 'sub from a constant (c − x), constant over the last two dims',
    layer: { type: 'sub', param: 'c', shape: [4, 5], constantFirst: true },
    inShape: [3, 4, 5],
    batch: 2,
  },
  { name: 'add of a constant vector', layer: { type: 'add', param: 'b', shape: [9] }, inShape: [9], batch: 3 },
  {
    name: 'add of a constant that broadcasts the input too ([3,1,5] + [4,1])',
    layer: { type: 'add', param: 'c', shape: [4, 1] },
    inShape: [3, 1, 5],
    batch: 2,
  },
  {
    name: 'mul by a constant that broadcasts the input too ([3,1,5] × [4,1])',
    layer: { type: 'mul', param: 'c', shape: [4, 1] },
    inShape: [3, 1, 5],
    batch: 2,
  },
  {
    name: 'div by a constant that broadcasts the input too ([B,1,5] ÷ [1,3,1])',
    layer: { type: 'div', param: 'c', shape: [1, 3, 1] },
    inShape: [1, 5],
    batch: 2,
  },
];

type Arr = number[];
interface Data {
  x: Arr;
  xdot: Arr;
  gy: Arr;
  gydot: Arr;
  params: Record<string, Arr>;
  tangents: Record<string, Arr>;
}

function makeData(op: Op, batch: number, seed: number): Data {
  const r = rng(seed);
  const vec = (n: number) => Array.from({ length: n }, () => r(-1, 1));
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, batch);
  const params: Record<string, Arr> = {},
    tangents: Record<string, Arr> = {};
  for (const p of op.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    // A variance is positive and a divisor kept away from 0 (central differences need |c| ≫ h); buffers
    // are constants (zero tangent, no gradient).
    params[p.key] =
      p.key === 'running_var'
        ? Array.from({ length: n }, () => r(0.2, 1.5))
        : op.type === 'div'
          ? Array.from({ length: n }, () => (r(0, 1) < 0.5 ? -1 : 1) * r(0.5, 1.5))
          : vec(n);
    tangents[p.key] = p.buffer ? new Array<number>(n).fill(0) : vec(n);
  }
  // Round to float32 so both backends see identical inputs.
  const f = (a: Arr) => Array.from(Float32Array.from(a));
  return {
    x: f(vec(size(op.inShape))),
    xdot: f(vec(size(op.inShape))),
    gy: f(vec(size(op.outShape))),
    gydot: f(vec(size(op.outShape))),
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, f(v)])),
    tangents: Object.fromEntries(Object.entries(tangents).map(([k, v]) => [k, f(v)])),
  };
}

type Seeding = 'input' | 'params' | 'both';

/** Runs forward, tangent, backward and backward2 of one op with the given tangent seeding; one readback. */
async function allPasses(be: Backend, op: Op, batch: number, d: Data, seeding: Seeding) {
  const inShape = [batch, ...op.inShape],
    outShape = [batch, ...op.outShape];
  const x = be.upload(d.x, inShape, 'x'),
    gy = be.upload(d.gy, outShape, 'gy'),
    gydot = be.upload(d.gydot, outShape, 'gydot');
  const xdot = seeding === 'params' ? null : be.upload(d.xdot, inShape, 'xdot');
  const plain: Record<string, ParamValue> = {},
    seeded: Record<string, ParamValue> = {};
  for (const p of op.params) {
    const value = be.upload(d.params[p.key], p.shape, p.key);
    plain[p.key] = { value, tangent: null };
    seeded[p.key] = {
      value,
      tangent: seeding === 'input' || p.buffer ? null : be.upload(d.tangents[p.key], p.shape, `${p.key} tangent`),
    };
  }
  const want = { input: true, params: true };
  const f = op.forward(be, batch, x, null, plain);
  const ft = op.forward(be, batch, x, xdot, seeded);
  const b = op.backward(be, batch, f.saved, gy, null, plain, want);
  const b2 = op.backward(be, batch, ft.saved, gy, gydot, seeded, want);
  const named: [string, BTensor | null][] = [
    ['forward y', f.y],
    ['tangent y', ft.y],
    ['tangent ẏ', ft.ydot],
    ['backward x̄', b.gx],
    ['backward2 x̄', b2.gx],
    ['backward2 ẋ̄', b2.gxdot],
  ];
  for (const p of op.params.filter((q) => !q.buffer)) {
    named.push(
      [`backward ${p.key}̄`, b.params[p.key].grad],
      [`backward2 ${p.key}̄`, b2.params[p.key].grad],
      [`backward2 ${p.key}̄ tangent`, b2.params[p.key].gradDot],
    );
  }
  const present = named.filter(([, t]) => t !== null) as [string, BTensor][];
  // Every result has its pass's size (a tangent seeded on the parameters alone is still a full [B, …out]).
  const count = (s: readonly number[]) => s.reduce((a, c) => a * c, 1);
  const sizes = new Map([
    ['forward y', count(outShape)],
    ['tangent y', count(outShape)],
    ['tangent ẏ', count(outShape)],
    ['backward x̄', count(inShape)],
    ['backward2 x̄', count(inShape)],
    ['backward2 ẋ̄', count(inShape)],
  ]);
  for (const [k, t] of present) {
    const want = sizes.get(k) ?? count(op.params.find((p) => k.includes(` ${p.key}̄`))!.shape);
    if (t.size !== want) throw new Error(`${k} has ${t.size} values, expected ${want}`);
  }
  const values = await be.read(present.map(([, t]) => t));
  return new Map(present.map(([k], i) => [k, Array.from(values[i])]));
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const axpy = (a: Arr, h: number, b: Arr) => a.map((v, i) => v + h * b[i]);
const scaleRecord = (p: Record<string, Arr>, h: number, t: Record<string, Arr>) =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, axpy(v, h, t[k])]));

describe.each(CASES)('op $name', ({ layer, inShape, batch }) => {
  const op = opFromSpec(layer, inShape, 'test');
  const data = makeData(op, batch, 7);
  const cpu = new CpuBackend();
  const seedings: Seeding[] = op.params.length ? ['input', 'params', 'both'] : ['input'];

  it.each(FLOAT32_BACKENDS.flatMap(([name, engine]) => seedings.map((s) => [name, s, engine] as const)))(
    '%s matches float64 in every pass (tangents seeded on %s)',
    async (_name, seeding, engine) => {
      const gpu = await (await engine()).backendForCall();
      const want = await allPasses(cpu, op, batch, data, seeding);
      const got = await allPasses(gpu, op, batch, data, seeding);
      expect([...got.keys()]).toEqual([...want.keys()]);
      // float32 sums of at most a few hundred O(1) terms: relative error ≲ √K·2⁻²⁴ ≈ 1e-6; 1e-5 leaves room for K·2⁻²⁴.
      for (const [k, w] of want) expect(relL2(got.get(k)!, w), k).toBeLessThan(1e-5);
    },
  );

  // Central differences in float64 with step h have error O(h²·f‴) ≈ 1e-10 here; 1e-6 is far above
  // rounding (1e-16/h ≈ 1e-11) and far below any real mistake.
  const h = 1e-5;
  it('float64 tangent = central difference of forward along (ẋ, θ̇)', async () => {
    const out = await allPasses(cpu, op, batch, data, 'both');
    const plus = await allPasses(
      cpu,
      op,
      batch,
      { ...data, x: axpy(data.x, h, data.xdot), params: scaleRecord(data.params, h, data.tangents) },
      'both',
    );
    const minus = await allPasses(
      cpu,
      op,
      batch,
      { ...data, x: axpy(data.x, -h, data.xdot), params: scaleRecord(data.params, -h, data.tangents) },
      'both',
    );
    const fd = plus.get('forward y')!.map((v, i) => (v - minus.get('forward y')![i]) / (2 * h));
    const tangent = out.get('tangent ẏ') ?? fd.map(() => 0);
    expect(relL2(tangent, fd)).toBeLessThan(1e-6);
  });

  it('float64 backward is the adjoint of the tangent: ⟨ȳ, ẏ⟩ = ⟨x̄, ẋ⟩ + Σ⟨θ̄, θ̇⟩', async () => {
    const out = await allPasses(cpu, op, batch, data, 'both');
    const lhs = dot(data.gy, out.get('tangent ẏ')!);
    let rhs = dot(out.get('backward x̄')!, data.xdot);
    for (const p of op.params.filter((q) => !q.buffer)) rhs += dot(out.get(`backward ${p.key}̄`)!, data.tangents[p.key]);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-10 * Math.max(1, Math.abs(lhs)));
  });

  it('float64 backward2 = central difference of backward along (ẋ, θ̇, ẏ̄)', async () => {
    const out = await allPasses(cpu, op, batch, data, 'both');
    const at = (s: number) =>
      allPasses(
        cpu,
        op,
        batch,
        {
          ...data,
          x: axpy(data.x, s, data.xdot),
          gy: axpy(data.gy, s, data.gydot),
          params: scaleRecord(data.params, s, data.tangents),
        },
        'both',
      );
    const [plus, minus] = [await at(h), await at(-h)];
    const pairs: [string, string][] = [
      ['backward x̄', 'backward2 ẋ̄'],
      ...op.params
        .filter((q) => !q.buffer)
        .map((p) => [`backward ${p.key}̄`, `backward2 ${p.key}̄ tangent`] as [string, string]),
    ];
    for (const [value, tangent] of pairs) {
      const fd = plus.get(value)!.map((v, i) => (v - minus.get(value)![i]) / (2 * h));
      expect(relL2(out.get(tangent)!, fd), tangent).toBeLessThan(1e-6);
    }
  });
});
