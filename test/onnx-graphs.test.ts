import { describe, expect, it } from 'vitest';
import { SmoothgeoError } from '../src/errors.js';
import { loadModel } from '../src/graph/model.js';
import { loadOnnx, onnxToSpec } from '../src/io/onnx.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';
import { buildOnnx, type GraphDef, type NodeDef, type TensorDef } from './onnx-build.js';
import { cpuEngine, FLOAT32_BACKENDS, randomTensor, relL2, rng } from './helpers.js';

/**
 * ONNX graphs built in the test (test/onnx-build.ts) with the operators torch.onnx.export writes around the
 * layers: input normalisation (Sub, Div by initializers), Mul by a per-channel constant, Add of a scalar
 * Constant, arithmetic on constants folded at load (Sqrt, Div), the flatten chain Shape → Gather →
 * Unsqueeze → Concat → Reshape, Dropout, Identity, Unsqueeze/Squeeze (opset 11 attribute and opset 13
 * input), MatMul by a constant, Add of a bias, and Sub of two computed values. Each is checked against the
 * same network written in the JSON spec (float64: equal to rounding) and on webgpu against float64.
 */
const r = rng(21);
const vals = (n: number, lo = -0.5, hi = 0.5) => Array.from(randomTensor([n], r, lo, hi).data);
const W = {
  mean: { dims: [1, 2, 1, 1], data: vals(2) },
  std: { dims: [2, 1, 1], data: vals(2, 0.5, 1.5) },
  convW: { dims: [3, 2, 3, 3], data: vals(54) },
  convB: { dims: [3], data: vals(3) },
  scale: { dims: [3, 1, 1], data: vals(3) },
  k1: { dims: [3, 1, 1], data: vals(3) },
  mm: { dims: [48, 10], data: vals(480) },
  bias: { dims: [10], data: vals(10) },
};

function graph(opset: number): GraphDef {
  const axes = (name: string, a: number[]): Pick<NodeDef, 'inputs' | 'attrs'> =>
    opset >= 13 ? { inputs: [name, `axes_${a.join('_')}`] } : { inputs: [name], attrs: { axes: { ints: a } } };
  const constant = (out: string, t: TensorDef): NodeDef => ({
    op: 'Constant',
    inputs: [],
    outputs: [out],
    attrs: { value: { t } },
  });
  const nodes: NodeDef[] = [
    { op: 'Sub', inputs: ['x', 'norm.mean'], outputs: ['a'] },
    { op: 'Div', inputs: ['a', 'norm.std'], outputs: ['b'] },
    { op: 'Conv', inputs: ['b', 'conv.weight', 'conv.bias'], outputs: ['c'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
    { op: 'Relu', inputs: ['c'], outputs: ['d'] },
    { op: 'Mul', inputs: ['d', 'onnx::Mul_9'], outputs: ['e'] },
    constant('k0', { dims: [], data: [0.5] }),
    { op: 'Add', inputs: ['k0', 'e'], outputs: ['f'] },
    constant('two', { dims: [], data: [2] }),
    { op: 'Sqrt', inputs: ['two'], outputs: ['root2'] },
    { op: 'Div', inputs: ['k1', 'root2'], outputs: ['k2'] },
    { op: 'Sub', inputs: ['k2', 'f'], outputs: ['g'] },
    { op: 'Shape', inputs: ['g'], outputs: ['shape'] },
    constant('zero', { dims: [], data: [0], int: true }),
    { op: 'Gather', inputs: ['shape', 'zero'], outputs: ['batch'], attrs: { axis: { i: 0 } } },
    { op: 'Unsqueeze', ...axes('batch', [0]), outputs: ['batch1'] },
    constant('minus1', { dims: [1], data: [-1], int: true }),
    { op: 'Concat', inputs: ['batch1', 'minus1'], outputs: ['target'], attrs: { axis: { i: 0 } } },
    { op: 'Reshape', inputs: ['g', 'target'], outputs: ['h'] },
    { op: 'Dropout', inputs: ['h'], outputs: ['i'] },
    { op: 'Identity', inputs: ['i'], outputs: ['j'] },
    { op: 'Unsqueeze', ...axes('j', [2]), outputs: ['k'] },
    { op: 'Squeeze', ...axes('k', [-1]), outputs: ['l'] },
    { op: 'MatMul', inputs: ['l', 'onnx::MatMul_20'], outputs: ['mm'], name: 'fc' },
    { op: 'Add', inputs: ['mm', 'fc.bias'], outputs: ['z'] },
    { op: 'Tanh', inputs: ['z'], outputs: ['t'] },
    { op: 'Sub', inputs: ['z', 't'], outputs: ['logits'] },
  ];
  const initializers: Record<string, TensorDef> = {
    'norm.mean': W.mean,
    'norm.std': W.std,
    'conv.weight': W.convW,
    'conv.bias': W.convB,
    'onnx::Mul_9': W.scale,
    k1: W.k1,
    'onnx::MatMul_20': W.mm,
    'fc.bias': W.bias,
  };
  if (opset >= 13) {
    initializers.axes_0 = { dims: [1], data: [0], int: true };
    initializers.axes_2 = { dims: [1], data: [2], int: true };
    initializers['axes_-1'] = { dims: [1], data: [-1], int: true };
  }
  return { opset, input: { name: 'x', dims: ['N', 2, 4, 4] }, output: 'logits', initializers, nodes };
}

/** The same network in the JSON spec. */
const SPEC = {
  input: [2, 4, 4],
  layers: [
    { type: 'sub', param: 'norm.mean', shape: [1, 2, 1, 1] },
    { type: 'div', param: 'norm.std', shape: [2, 1, 1] },
    { type: 'conv2d', name: 'conv', out: 3, kernel: 3, padding: 1 },
    { type: 'relu' },
    { type: 'mul', param: 'onnx::Mul_9', shape: [3, 1, 1] },
    { type: 'add', param: 'k0', shape: [] },
    { type: 'sub', param: 'k2', shape: [3, 1, 1], constantFirst: true },
    { type: 'flatten' },
    { type: 'dense', name: 'fc', out: 10, bias: false },
    { type: 'add', param: 'fc.bias', shape: [10], id: 'z' },
    { type: 'tanh' },
    { type: 'sub', inputs: ['z', 'v10'], id: 'out' },
  ],
};
(SPEC.layers[10] as Record<string, unknown>).id = 'v10';

function specWeights(): Record<string, Tensor> {
  const t = (d: TensorDef, shape = d.dims) => ({ shape, data: Float32Array.from(d.data) });
  const mmT = new Float32Array(480);
  for (let k = 0; k < 48; k++) for (let j = 0; j < 10; j++) mmT[j * 48 + k] = W.mm.data[k * 10 + j];
  return {
    'norm.mean': t(W.mean),
    'norm.std': t(W.std),
    'conv.weight': t(W.convW),
    'conv.bias': t(W.convB),
    'onnx::Mul_9': t(W.scale),
    k0: { shape: [], data: Float32Array.of(0.5) },
    // ONNX arithmetic is float32: √2 rounded to float32, then the quotient rounded.
    k2: { shape: [3, 1, 1], data: Float32Array.from(W.k1.data, (v) => v / Math.fround(Math.SQRT2)) },
    'fc.weight': { shape: [10, 48], data: mmT },
    'fc.bias': t(W.bias),
  };
}

const x = randomTensor([2, 2, 4, 4], rng(3), 0, 1),
  v = randomTensor([2, 2, 4, 4], rng(4));
const ce = { kind: 'crossEntropy' as const, labels: [3, 8] };

describe.each([11, 13, 17])('an ONNX graph of elementwise, folded and shape operators (opset %i)', (opset) => {
  const bytes = buildOnnx(graph(opset));

  it('folds the constant subgraphs: constants are parameters under their ONNX names', () => {
    const { spec, weights } = onnxToSpec(bytes);
    expect([...weights.keys()].sort()).toEqual(Object.keys(specWeights()).sort());
    expect(spec.layers.map((l) => l.type)).toEqual([
      'sub',
      'div',
      'conv2d',
      'relu',
      'mul',
      'add',
      'sub',
      'reshape', // the flatten chain
      'reshape', // Unsqueeze
      'reshape', // Squeeze
      'dense',
      'add',
      'tanh',
      'sub',
    ]);
    // k2 = k1 / √2, folded at load in float32 arithmetic as ONNX defines it.
    expect(Array.from(weights.get('k2')!.data)).toEqual(Array.from(specWeights().k2.data));
  });

  it('gives the numbers of the same network written in the JSON spec (float64, every derivative)', async () => {
    const engine = await cpuEngine();
    const fromOnnx = await loadOnnx(engine, bytes);
    const fromSpec = await loadModel(engine, SPEC, encodeSafetensors(specWeights()));
    expect(fromOnnx.parameters).toEqual(fromSpec.parameters);
    expect(relL2((await fromOnnx.forward(x)).data, (await fromSpec.forward(x)).data)).toBeLessThan(1e-12);
    expect(relL2((await fromOnnx.inputGradient(x, ce)).data, (await fromSpec.inputGradient(x, ce)).data)).toBeLessThan(
      1e-12,
    );
    expect(relL2((await fromOnnx.inputHvp(x, v, ce)).data, (await fromSpec.inputHvp(x, v, ce)).data)).toBeLessThan(
      1e-12,
    );
    const [go, gs] = [await fromOnnx.paramGradient(x, ce), await fromSpec.paramGradient(x, ce)];
    for (const k of Object.keys(gs)) expect(relL2(go[k].data, gs[k].data), k).toBeLessThan(1e-12);
  });

  it.each(FLOAT32_BACKENDS)(
    '%s matches float64 (logits, input gradient, input HVP, constant gradients)',
    async (_name, engine) => {
      const [cpu, gpu] = [await loadOnnx(await cpuEngine(), bytes), await loadOnnx(await engine(), bytes)];
      expect(relL2((await gpu.forward(x)).data, (await cpu.forward(x)).data)).toBeLessThan(1e-5);
      expect(relL2((await gpu.inputGradient(x, ce)).data, (await cpu.inputGradient(x, ce)).data)).toBeLessThan(1e-5);
      expect(relL2((await gpu.inputHvp(x, v, ce)).data, (await cpu.inputHvp(x, v, ce)).data)).toBeLessThan(1e-5);
      const [gg, gc] = [await gpu.paramGradient(x, ce), await cpu.paramGradient(x, ce)];
      for (const k of ['norm.mean', 'norm.std', 'onnx::Mul_9', 'k0', 'k2'])
        expect(relL2(gg[k].data, gc[k].data), k).toBeLessThan(1e-5);
    },
  );
});

describe('ONNX operators outside what the importer expresses exactly are refused, naming node and reason', () => {
  // A tiny valid graph x [N, 4] → MatMul(W [4, 3]) → logits, edited per case.
  const base = (nodes: NodeDef[], extra: Record<string, TensorDef> = {}, opset = 13): Uint8Array =>
    buildOnnx({
      opset,
      input: { name: 'x', dims: ['N', 4] },
      output: nodes.at(-1)!.outputs[0],
      initializers: { w: { dims: [4, 3], data: vals(12) }, ...extra },
      nodes,
    });
  const refuses = async (b: Uint8Array, re: RegExp, options = {}, code = 'INVALID_ONNX') => {
    const e = await loadOnnx(await cpuEngine(), b, options).then(
      () => null,
      (err: unknown) => err as SmoothgeoError,
    );
    expect(e, 'loadOnnx accepted the file').toBeInstanceOf(SmoothgeoError);
    expect(e!.message).toMatch(re);
    expect(e!.code).toBe(code);
  };

  it('accepts the base graph (MatMul by a constant)', async () => {
    const m = await loadOnnx(await cpuEngine(), base([{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }]));
    expect(m.classes).toBe(3);
  });
  it('MatMul of two computed values', () =>
    refuses(
      base(
        [
          { op: 'Relu', inputs: ['x'], outputs: ['r'] },
          { op: 'Reshape', inputs: ['r', 'to41'], outputs: ['r41'] },
          { op: 'MatMul', inputs: ['x', 'r41'], outputs: ['y'], name: 'mm' },
        ],
        { to41: { dims: [3], data: [0, 4, 1], int: true } },
      ),
      /node 'mm' \(MatMul\): MatMul of two computed values is not supported \(only by a constant right operand\); supported operators: Conv/,
    ));
  it('MatMul of a constant by a computed value', () =>
    refuses(
      base([{ op: 'MatMul', inputs: ['w2', 'x'], outputs: ['y'], name: 'mm' }], {
        w2: { dims: [3, 4], data: vals(12) },
      }),
      /node 'mm' \(MatMul\): MatMul of a constant by a computed value is not supported/,
    ));
  it('MatMul of a 3-D value', () =>
    refuses(
      base(
        [
          { op: 'Unsqueeze', inputs: ['x', 'ax'], outputs: ['u'] },
          { op: 'MatMul', inputs: ['u', 'w'], outputs: ['y'], name: 'mm' },
        ],
        { ax: { dims: [1], data: [1], int: true } },
      ),
      /node 'mm' \(MatMul\): only a 2-D MatMul \[batch, K\] · \[K, N\] is supported, got \[batch, 1, 4\]/,
    ));
  it('Mul of two computed values', () =>
    refuses(
      base([
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Mul', inputs: ['x', 'r'], outputs: ['p'], name: 'mul' },
        { op: 'MatMul', inputs: ['p', 'w'], outputs: ['y'] },
      ]),
      /node 'mul' \(Mul\): Mul of two computed values is not supported \(only with a constant operand\)/,
    ));
  it('Div of a constant by a computed value', () =>
    refuses(
      base(
        [
          { op: 'Div', inputs: ['one', 'x'], outputs: ['p'], name: 'div' },
          { op: 'MatMul', inputs: ['p', 'w'], outputs: ['y'] },
        ],
        { one: { dims: [], data: [1] } },
      ),
      /node 'div' \(Div\): Div of a constant by a computed value is not supported/,
    ));
  it('a constant that does not broadcast against the value', () =>
    refuses(
      base(
        [
          { op: 'Mul', inputs: ['x', 'c'], outputs: ['p'], name: 'mul' },
          { op: 'MatMul', inputs: ['p', 'w'], outputs: ['y'] },
        ],
        { c: { dims: [5], data: vals(5) } },
      ),
      /node 'mul' \(Mul\): a constant of shape \[5\] does not broadcast against the input \[batch, 4\]/,
      {},
      'INVALID_SPEC',
    ));
  it('Squeeze of the batch axis', () =>
    refuses(
      base(
        [
          { op: 'Squeeze', inputs: ['x', 'ax'], outputs: ['s'], name: 'sq' },
          { op: 'MatMul', inputs: ['s', 'w'], outputs: ['y'] },
        ],
        { ax: { dims: [1], data: [0], int: true } },
      ),
      /node 'sq' \(Squeeze\): axis 0 is the batch, which cannot be squeezed/,
    ));
  it('Unsqueeze with axes as an attribute at opset 11', async () => {
    const m = await loadOnnx(
      await cpuEngine(),
      base(
        [
          { op: 'Unsqueeze', inputs: ['x'], outputs: ['u'], attrs: { axes: { ints: [2] } } },
          { op: 'Squeeze', inputs: ['u'], outputs: ['s'], attrs: { axes: { ints: [2] } } },
          { op: 'MatMul', inputs: ['s', 'w'], outputs: ['y'] },
        ],
        {},
        11,
      ),
    );
    expect(m.graph.ops.map((o) => o.type)).toEqual(['reshape', 'reshape', 'dense']);
  });
  it('a Reshape that fixes the batch size', () =>
    refuses(
      base(
        [
          { op: 'Reshape', inputs: ['x', 'to'], outputs: ['s'], name: 'rs' },
          { op: 'MatMul', inputs: ['s', 'w'], outputs: ['y'] },
        ],
        { to: { dims: [2], data: [2, -1], int: true } },
      ),
      /node 'rs' \(Reshape\): only a shape that keeps the batch first \(-1, 0 or the input's own batch size from Shape\) is supported, got \[2,-1\]/,
    ));
  it('arithmetic on the dynamic batch size', () =>
    refuses(
      base(
        [
          { op: 'Shape', inputs: ['x'], outputs: ['sh'] },
          { op: 'Mul', inputs: ['sh', 'two'], outputs: ['sh2'], name: 'twice' },
          { op: 'Reshape', inputs: ['x', 'sh2'], outputs: ['s'] },
          { op: 'MatMul', inputs: ['s', 'w'], outputs: ['y'] },
        ],
        { two: { dims: [1], data: [2], int: true } },
      ),
      /node 'twice' \(Mul\): arithmetic on the dynamic batch size is not supported/,
    ));
  it('a Gather of a computed value (supported on constants only)', () =>
    refuses(
      base(
        [
          { op: 'Gather', inputs: ['x', 'i'], outputs: ['s'], name: 'g', attrs: { axis: { i: 1 } } },
          { op: 'MatMul', inputs: ['s', 'w'], outputs: ['y'] },
        ],
        { i: { dims: [4], data: [0, 1, 2, 3], int: true } },
      ),
      /node 'g' \(Gather\): operator Gather is supported on constants only, and an input here is computed from the model input; supported operators: Conv/,
    ));
  it('a training-mode Dropout', () =>
    refuses(
      base(
        [
          { op: 'Dropout', inputs: ['x', 'ratio', 'train'], outputs: ['d'], name: 'drop' },
          { op: 'MatMul', inputs: ['d', 'w'], outputs: ['y'] },
        ],
        { ratio: { dims: [], data: [0.5] }, train: { dims: [], data: [1], int: true } },
      ),
      /node 'drop' \(Dropout\): a Dropout with a mask output or training_mode is a training graph/,
    ));
  it('an integer tensor as a weight', () =>
    refuses(
      base([{ op: 'MatMul', inputs: ['x', 'wi'], outputs: ['y'], name: 'mm' }], {
        wi: { dims: [4, 3], data: new Array(12).fill(1), int: true },
      }),
      /node 'mm' \(MatMul\): its right operand 'wi' is an integer tensor; the model must be float32/,
    ));
  it('a folded constant past the size cap (broadcasting cannot blow up memory)', () =>
    refuses(
      base(
        [
          { op: 'Add', inputs: ['col', 'row'], outputs: ['big'], name: 'blowup' },
          { op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] },
        ],
        { col: { dims: [2000, 1], data: vals(2000) }, row: { dims: [1, 2000], data: vals(2000) } },
      ),
      /node 'blowup' \(Add\): a folded constant of shape \[2000,2000\] is larger than maxBytes allows/,
      { maxBytes: 1_000_000 },
    ));
});

describe('ONNX Gemm with transB = 0, alpha and beta', () => {
  it('is the dense layer with weight alpha·Bᵀ and bias beta·C, named after the node', async () => {
    const B = randomTensor([4, 3], rng(8)),
      C = randomTensor([1, 3], rng(9));
    const bytes = buildOnnx({
      input: { name: 'x', dims: ['N', 4] },
      output: 'y',
      initializers: { B: { dims: [4, 3], data: Array.from(B.data) }, C: { dims: [1, 3], data: Array.from(C.data) } },
      nodes: [
        {
          op: 'Gemm',
          inputs: ['x', 'B', 'C'],
          outputs: ['y'],
          name: 'head',
          attrs: { transB: { i: 0 }, alpha: { f: 0.5 }, beta: { f: 2 } },
        },
      ],
    });
    const m = await loadOnnx(await cpuEngine(), bytes);
    expect(m.parameters).toEqual({ 'head.weight': [3, 4], 'head.bias': [3] });
    const x = randomTensor([2, 4], rng(10));
    const y = (await m.forward(x)).data;
    // y = 0.5·x·B + 2·C, in float64 by hand (the weights were rounded to float32 at load: 1e-6 relative).
    const want = Array.from({ length: 6 }, (_, i) => {
      const [b, o] = [Math.floor(i / 3), i % 3];
      let s = 2 * C.data[o];
      for (let k = 0; k < 4; k++) s += 0.5 * x.data[b * 4 + k] * B.data[k * 3 + o];
      return s;
    });
    expect(relL2(y, want)).toBeLessThan(1e-6);
  });
});
