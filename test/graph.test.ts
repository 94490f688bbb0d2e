import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu.js';
import { Model } from '../src/graph/model.js';
import { sweep, type SweepRequest } from '../src/graph/sweep.js';
import { opFromSpec } from '../src/ops/index.js';
import type { LayerSpec } from '../src/ops/op.js';
import { buildGraph } from '../src/graph/spec.js';
import type { Tensor } from '../src/tensor.js';
import { cpuEngine, FLOAT32_BACKENDS, randomTensor, relL2, rng } from './helpers.js';

/**
 * Graphs with branches: a residual block (fan-out of one value into a convolution branch and an identity
 * shortcut, joined by add), a value read three times (twice by the same add), reshape and global average
 * pooling. Gradients and HVPs on float64 against central differences of the forward pass / of the gradient,
 * then webgpu against float64. Softplus keeps the HVPs non-zero.
 */
const SPEC = {
  input: [2, 5, 5],
  layers: [
    { type: 'conv2d', name: 'stem', out: 3, kernel: 3, padding: 1, id: 'stem' },
    { type: 'softplus', beta: 2, id: 'a' },
    { type: 'conv2d', name: 'block.conv1', out: 3, kernel: 3, padding: 1 },
    { type: 'tanh' },
    { type: 'conv2d', name: 'block.conv2', out: 3, kernel: 1 },
    { type: 'add', inputs: ['a', 'block.c2'], id: 'sum' },
    { type: 'add', inputs: ['sum', 'a'], id: 'twice' },
    { type: 'softplus', beta: 3 },
    { type: 'globalavgpool2d' },
    { type: 'reshape', shape: [3] },
    { type: 'dense', name: 'fc', out: 4 },
  ],
};
// block.conv2 needs an id to be named: give it one.
(SPEC.layers[4] as Record<string, unknown>).id = 'block.c2';

/** Concatenation along channels, of a value with itself too (its gradient gathers both slices). */
const CONCAT_SPEC = {
  input: [2, 5, 5],
  layers: [
    { type: 'conv2d', name: 'a', out: 3, kernel: 3, padding: 1, id: 'a' },
    { type: 'conv2d', name: 'b', out: 2, kernel: 1, inputs: ['input'], id: 'b' },
    { type: 'softplus', beta: 2, id: 'sb' },
    { type: 'concat', inputs: ['a', 'sb', 'a'] },
    { type: 'tanh' },
    { type: 'globalavgpool2d' },
    { type: 'flatten' },
    { type: 'dense', name: 'fc', out: 4 },
  ],
};

/**
 * Elementwise layers: input normalisation by constants (x − mean)/std, a value minus its own channel means
 * (sub of two values, broadcast [3, 5, 5] − [3, 1, 1]), a per-channel scale, add of a broadcast value, a
 * constant along the last dimension and c − x with a scalar constant named as ONNX names it.
 */
const ELEMENTWISE_SPEC = {
  input: [2, 5, 5],
  layers: [
    { type: 'sub', param: 'norm.mean', shape: [2, 1, 1] },
    { type: 'div', param: 'norm.std', shape: [2, 1, 1] },
    { type: 'conv2d', name: 'a', out: 3, kernel: 3, padding: 1 },
    { type: 'softplus', beta: 2, id: 'sa' },
    { type: 'globalavgpool2d', id: 'pooled' },
    { type: 'sub', inputs: ['sa', 'pooled'] },
    { type: 'mul', param: 'scale', shape: [3, 1, 1], id: 'scaled' },
    { type: 'add', inputs: ['scaled', 'pooled'] },
    { type: 'tanh' },
    { type: 'add', param: 'shift', shape: [5] },
    { type: 'sub', param: 'onnx::Sub_1', shape: [1], constantFirst: true },
    { type: 'globalavgpool2d' },
    { type: 'flatten' },
    { type: 'dense', name: 'fc', out: 4 },
  ],
};

const B = 2;
function weights(seed: number, graph: ReturnType<typeof buildGraph>): Map<string, Tensor> {
  const r = rng(seed);
  // A divisor away from zero.
  return new Map(
    [...graph.params].map(([k, s]) => [
      k,
      randomTensor([...s], r, k === 'norm.std' ? 0.5 : -0.6, 0.6 + (k === 'norm.std' ? 0.6 : 0)),
    ]),
  );
}
const EXPECTED_INPUTS = new Map<unknown, number[][]>([
  [SPEC, [[0], [1], [2], [3], [4], [2, 5], [6, 2], [7], [8], [9], [10]]],
  [CONCAT_SPEC, [[0], [0], [2], [1, 3, 1], [4], [5], [6], [7]]],
  [ELEMENTWISE_SPEC, [[0], [1], [2], [3], [4], [4, 5], [6], [7, 5], [8], [9], [10], [11], [12], [13]]],
]);

for (const [title, spec] of [
  ['residual block, fan-out, add, globalavgpool2d, reshape', SPEC],
  ['concat', CONCAT_SPEC],
  ['elementwise constants, sub and add with broadcasting', ELEMENTWISE_SPEC],
] as const)
  describe(`graph with branches (${title})`, () => {
    const graph = buildGraph(spec);
    const w = weights(3, graph);
    const r = rng(11);
    const x = randomTensor([B, 2, 5, 5], r),
      v = randomTensor([B, 2, 5, 5], r);
    const objective = { kind: 'crossEntropy' as const, labels: [1, 3] };
    const h = 1e-5;

    it('is a DAG: the spec records which values each layer reads', () => {
      expect(graph.inputs).toEqual(EXPECTED_INPUTS.get(spec));
    });

    // float64 sweeps on the cpu backend directly: Model takes float32 tensors, and central differences
    // need float64 steps.
    const cpu = new CpuBackend();
    const W = new Map([...w].map(([k, t]) => [k, Array.from(t.data)]));
    const r2 = rng(5);
    const dir = new Map([...graph.params].map(([k, s]) => [k, Array.from(randomTensor([...s], r2).data)]));
    const X = Array.from(x.data),
      V = Array.from(v.data);
    const axpy = (a: number[], s: number, b: number[]) => a.map((e, i) => e + s * b[i]);
    async function run(
      xs: number[],
      ws: Map<string, number[]>,
      o: { xdot?: boolean; paramDot?: boolean; paramGrads?: boolean },
    ) {
      const params = new Map([...ws].map(([k, d]) => [k, cpu.upload(d, graph.params.get(k)!, k)]));
      const req: SweepRequest = {
        x: cpu.upload(xs, x.shape, 'x'),
        params,
        inputGrad: true,
        paramGrads: !!o.paramGrads,
        head: { kind: 'crossEntropy', classes: cpu.uploadIndices(objective.labels, [B], 'labels'), scale: 1 },
      };
      if (o.xdot) req.xdot = cpu.upload(V, x.shape, 'v');
      if (o.paramDot)
        req.paramTangents = new Map([...dir].map(([k, d]) => [k, cpu.upload(d, graph.params.get(k)!, k)]));
      const res = sweep(cpu, graph, req);
      const names = [...graph.params.keys()];
      const ts = [
        res.value!,
        res.inputGrad!,
        res.inputGradDot ?? res.inputGrad!,
        ...names.flatMap((k) =>
          o.paramGrads
            ? [res.paramGrads.get(k)!.grad!, res.paramGrads.get(k)!.gradDot ?? res.paramGrads.get(k)!.grad!]
            : [],
        ),
      ];
      const out = (await cpu.read(ts)).map((a) => Array.from(a));
      return {
        value: out[0],
        grad: out[1],
        gradDot: out[2],
        params: new Map(names.map((k, i) => [k, { grad: out[3 + 2 * i], gradDot: out[4 + 2 * i] }])),
      };
    }

    it('float64 input gradient = central differences of the objective (fan-out gradients are summed)', async () => {
      const { grad } = await run(X, W, {});
      const [plus, minus] = [(await run(axpy(X, h, V), W, {})).value, (await run(axpy(X, -h, V), W, {})).value];
      const d = X.length / B;
      for (let b = 0; b < B; b++) {
        let along = 0;
        for (let i = 0; i < d; i++) along += grad[b * d + i] * V[b * d + i];
        // Central differences in float64: O(h²) ≈ 1e-10 truncation, far below 1e-7 relative.
        const fd = (plus[b] - minus[b]) / (2 * h);
        expect(Math.abs(along - fd)).toBeLessThan(1e-7 * Math.max(1e-3, Math.abs(fd)));
      }
    });

    it('float64 input HVP = central differences of the input gradient (tangents summed at fan-out)', async () => {
      const { gradDot } = await run(X, W, { xdot: true });
      const [gp, gm] = [(await run(axpy(X, h, V), W, {})).grad, (await run(axpy(X, -h, V), W, {})).grad];
      expect(
        relL2(
          gradDot,
          gp.map((a, i) => (a - gm[i]) / (2 * h)),
        ),
      ).toBeLessThan(1e-6);
    });

    it('float64 parameter HVP = central differences of the parameter gradient', async () => {
      const { params } = await run(X, W, { paramDot: true, paramGrads: true });
      const moved = (s: number) => new Map([...W].map(([k, d]) => [k, axpy(d, s, dir.get(k)!)]));
      const [gp, gm] = [
        (await run(X, moved(h), { paramGrads: true })).params,
        (await run(X, moved(-h), { paramGrads: true })).params,
      ];
      for (const k of graph.params.keys()) {
        const fd = gp.get(k)!.grad.map((a, i) => (a - gm.get(k)!.grad[i]) / (2 * h));
        expect(relL2(params.get(k)!.gradDot, fd), k).toBeLessThan(1e-6);
      }
    });

    it.each(FLOAT32_BACKENDS)(
      '%s matches float64: logits, input gradient, input HVP, parameter gradient, Gauss–Newton',
      async (_name, engine) => {
        const cpu = new Model(await cpuEngine(), graph, w),
          gpu = new Model(await engine(), graph, w);
        const pairs: [string, ArrayLike<number>, ArrayLike<number>][] = [];
        pairs.push(['logits', (await gpu.forward(x)).data, (await cpu.forward(x)).data]);
        pairs.push([
          'input gradient',
          (await gpu.inputGradient(x, objective)).data,
          (await cpu.inputGradient(x, objective)).data,
        ]);
        pairs.push([
          'input HVP',
          (await gpu.inputHvp(x, v, objective)).data,
          (await cpu.inputHvp(x, v, objective)).data,
        ]);
        pairs.push([
          'Gauss–Newton',
          (await gpu.gaussNewtonProduct(x, v, [1, 3])).data,
          (await cpu.gaussNewtonProduct(x, v, [1, 3])).data,
        ]);
        const pg = await gpu.paramGradient(x, objective),
          pc = await cpu.paramGradient(x, objective);
        for (const k of graph.params.keys()) pairs.push([`gradient of ${k}`, pg[k].data, pc[k].data]);
        // float32 sums of a few hundred O(1) terms: ≲ 1e-6 relative; 1e-5 leaves room.
        for (const [name, got, want] of pairs) expect(relL2(got, want), name).toBeLessThan(1e-5);
      },
    );

    if (spec === SPEC)
      it('refuses bad graphs with errors that name the layer and what was expected', () => {
        const bad = (layers: unknown[]) => () => buildGraph({ input: [4], layers });
        expect(
          bad([
            { type: 'dense', name: 'a', out: 4, id: 'h' },
            { type: 'add', inputs: ['h', 'nope'] },
          ]),
        ).toThrow(/layers\[1\] \(add\): input 'nope' is not the id of an earlier layer; known ids: input, h/);
        expect(
          bad([
            { type: 'add', inputs: ['later', 'input'] },
            { type: 'dense', name: 'a', out: 4, id: 'later' },
          ]),
        ).toThrow(/input 'later' is not the id of an earlier layer/);
        expect(bad([{ type: 'dense', name: 'a', out: 4, id: 'input' }])).toThrow(/id 'input' is reserved/);
        expect(
          bad([
            { type: 'dense', name: 'a', out: 4, id: 'h' },
            { type: 'dense', name: 'b', out: 4, id: 'h' },
          ]),
        ).toThrow(/id 'h' is used by an earlier layer/);
        expect(
          bad([
            { type: 'dense', name: 'a', out: 3, id: 'h' },
            { type: 'add', inputs: ['h', 'input'] },
          ]),
        ).toThrow(
          /add needs inputs of one shape or shapes that broadcast \(numpy rules\), but input 1 is \[4\] and input 0 is \[3\]/,
        );
        expect(bad([{ type: 'add', inputs: ['input'] }])).toThrow(
          /add layer needs exactly 2 'inputs' \(or a constant 'param'\), got 1/,
        );
        expect(bad([{ type: 'dense', name: 'a', out: 4, inputs: ['input', 'input'] }])).toThrow(
          /dense layer takes exactly 1 input, got 2/,
        );
        expect(
          bad([
            { type: 'dense', name: 'a', out: 4 },
            { type: 'dense', name: 'b', out: 2, inputs: ['input'] },
          ]),
        ).toThrow(/layers\[0\] \(dense\): its output is read by no later layer/);
        expect(bad([{ type: 'dense', name: 'a', out: 4, inputs: 'input' }])).toThrow(
          /field 'inputs' must be a non-empty list/,
        );
        expect(bad([{ type: 'reshape', shape: [3] }])).toThrow(
          /cannot reshape \[4\] \(4 values\) to \[3\] \(3 values\)/,
        );
      });
  });

describe('pooling with padding and ceil mode follows PyTorch', () => {
  const run = async (layer: Record<string, unknown>, inShape: number[], x: number[]) => {
    const op = opFromSpec({ type: 'avgpool2d', ...layer } as LayerSpec, inShape, 'test');
    const be = new CpuBackend();
    const { y } = op.forward(be, 1, be.upload(x, [1, ...inShape], 'x'), null, {});
    return { shape: op.outShape, y: Array.from((await be.read([y]))[0]) };
  };
  const ones = (n: number) => new Array<number>(n).fill(1);
  it('avg pool 3×3 stride 2 pad 1 on ones: 4/9 with padding counted (torch default), 1 without', async () => {
    expect(await run({ kernel: 3, stride: 2, padding: 1 }, [1, 3, 3], ones(9))).toEqual({
      shape: [1, 2, 2],
      y: [4 / 9, 4 / 9, 4 / 9, 4 / 9],
    });
    expect((await run({ kernel: 3, stride: 2, padding: 1, countIncludePad: false }, [1, 3, 3], ones(9))).y).toEqual([
      1, 1, 1, 1,
    ]);
  });
  it('ceil mode adds the partial last window (5 → 3 with kernel 2), which averages its cells only', async () => {
    const r = await run(
      { kernel: 2, ceilMode: true },
      [1, 5, 5],
      ones(25).map((_, i) => i),
    );
    expect(r.shape).toEqual([1, 3, 3]);
    // Last window of the first row: cells (0,4), (1,4) = 4 and 9.
    expect(r.y[2]).toBeCloseTo(6.5, 12);
    expect((await run({ kernel: 2 }, [1, 5, 5], ones(25))).shape).toEqual([1, 2, 2]);
  });
  it('max pool pads with −∞: a negative input is never beaten by the padding', async () => {
    const op = opFromSpec({ type: 'maxpool2d', kernel: 3, stride: 2, padding: 1 } as LayerSpec, [1, 3, 3], 'test');
    const be = new CpuBackend();
    const { y } = op.forward(
      be,
      1,
      be.upload(
        ones(9).map((_, i) => -1 - i),
        [1, 1, 3, 3],
        'x',
      ),
      null,
      {},
    );
    expect(Array.from((await be.read([y]))[0])).toEqual([-1, -2, -4, -5]);
  });
  it('refuses padding over half the kernel, as PyTorch', () => {
    expect(() =>
      opFromSpec({ type: 'maxpool2d', kernel: 2, padding: 2 } as LayerSpec, [1, 5, 5], 'layers[0] (maxpool2d)'),
    ).toThrow(/layers\[0\] \(maxpool2d\): padding 2 must be at most half the kernel 2/);
  });
});

describe('dilated convolution follows PyTorch', () => {
  it('a 2×2 kernel with dilation 2 on a 3×3 input reads the four corners: 1·0 + 2·2 + 3·6 + 4·8 = 54', async () => {
    const op = opFromSpec(
      { type: 'conv2d', name: 'c', out: 1, kernel: 2, dilation: 2, bias: false } as LayerSpec,
      [1, 3, 3],
      'test',
    );
    expect(op.outShape).toEqual([1, 1, 1]);
    const be = new CpuBackend();
    const { y } = op.forward(be, 1, be.upload([0, 1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 3, 3], 'x'), null, {
      weight: { value: be.upload([1, 2, 3, 4], [1, 1, 2, 2], 'w'), tangent: null },
    });
    expect(Array.from((await be.read([y]))[0])).toEqual([54]);
  });
});

describe('grouped convolution follows PyTorch', () => {
  it('depthwise (groups = channels): output channel i sees input channel i only, weight [out, in/groups, kh, kw]', async () => {
    const op = opFromSpec(
      { type: 'conv2d', name: 'c', out: 2, kernel: 1, groups: 2, bias: false } as LayerSpec,
      [2, 1, 2],
      'test',
    );
    expect(op.params[0].shape).toEqual([2, 1, 1, 1]);
    const be = new CpuBackend();
    const { y } = op.forward(be, 1, be.upload([1, 1, 10, 10], [1, 2, 1, 2], 'x'), null, {
      weight: { value: be.upload([2, 3], [2, 1, 1, 1], 'w'), tangent: null },
    });
    expect(Array.from((await be.read([y]))[0])).toEqual([2, 2, 30, 30]);
  });
  it('refuses groups that do not divide the channels', () => {
    expect(() =>
      opFromSpec(
        { type: 'conv2d', name: 'c', out: 4, kernel: 1, groups: 3 } as LayerSpec,
        [3, 2, 2],
        'layers[0] (conv2d)',
      ),
    ).toThrow(/groups 3 must divide both the input channels 3 and 'out' 4/);
  });
});
