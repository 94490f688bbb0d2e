// Activations fused into the preceding dense/conv GEMM's store (gemm.wgsl epilogue_fused, sweep.ts): the fused
// sweep gives what the unfused one gives, in every pass (value, tangent, gradient, backward2, parameter
// gradients and their tangents), on awkward shapes and every GEMM plan, and it saves a dispatch per pair.
import { describe, expect, it } from 'vitest';
import type { Backend, BTensor } from '../src/backend/backend.js';
import { buildGraph } from '../src/graph/spec.js';
import { sweep, type SweepResult } from '../src/graph/sweep.js';
import { loadModel } from '../src/graph/model.js';
import { createEngine } from '../src/engine.js';
import { oracleCases, relL2, rng, wasmEngine, webgpuEngine } from './helpers.js';

interface Case {
  name: string;
  input: number[];
  layers: Record<string, unknown>[];
  batch: number;
}
/** The activation after the conv in layer order reads the input, not the conv: nothing to fuse. */
const DAG_NOT_NEXT_INPUT: Case = {
  name: 'DAG: the next layer is an activation of another value',
  input: [2, 5, 5],
  batch: 2,
  layers: [
    { type: 'conv2d', name: 'c', out: 2, kernel: 3, padding: 1, id: 'pre' },
    { type: 'softplus', beta: 2, inputs: ['input'], id: 'sp' },
    { type: 'add', inputs: ['pre', 'sp'] },
    { type: 'flatten' },
    { type: 'dense', name: 'fc', out: 3 },
  ],
};
/** The pre-activation is read by its activation and by the add: left unfused. */
const DAG_RESIDUAL: Case = {
  name: 'DAG: a pre-activation with a second reader',
  input: [2, 5, 5],
  batch: 2,
  layers: [
    { type: 'conv2d', name: 'c', out: 2, kernel: 3, padding: 1, id: 'pre' },
    { type: 'tanh', id: 'act' },
    { type: 'add', inputs: ['pre', 'act'] },
    { type: 'flatten' },
    { type: 'dense', name: 'fc', out: 3 },
  ],
};
/** A conv + activation inside a branch, the activation its one reader: fused. */
const DAG_BRANCH: Case = {
  name: 'DAG: conv + activation on a branch',
  input: [2, 5, 5],
  batch: 2,
  layers: [
    { type: 'conv2d', name: 'stem', out: 2, kernel: 3, padding: 1, id: 'stem' },
    { type: 'conv2d', name: 'b', out: 2, kernel: 3, padding: 1 },
    { type: 'softplus', beta: 2, id: 'sb' },
    { type: 'add', inputs: ['stem', 'sb'] },
    { type: 'flatten' },
    { type: 'dense', name: 'fc', out: 3 },
  ],
};
const CASES: Case[] = [
  {
    name: 'conv 3×3 stride 2 pad 1 + softplus(β=10), odd sizes',
    input: [2, 7, 6],
    batch: 3,
    layers: [
      { type: 'conv2d', name: 'c', out: 3, kernel: 3, stride: 2, padding: 1 },
      { type: 'softplus', beta: 10 },
      { type: 'flatten' },
      { type: 'dense', name: 'fc', out: 4 },
    ],
  },
  {
    name: 'conv with a split-K filter gradient + tanh',
    input: [1, 48, 48],
    batch: 2,
    layers: [
      { type: 'conv2d', name: 'c', out: 2, kernel: 3 },
      { type: 'tanh' },
      { type: 'flatten' },
      { type: 'dense', name: 'fc', out: 3 },
    ],
  },
  {
    name: 'conv into 64 channels (tiled) + relu, no bias',
    input: [8, 10, 10],
    batch: 1,
    layers: [
      { type: 'conv2d', name: 'c', out: 64, kernel: 3, bias: false },
      { type: 'relu' },
      { type: 'flatten' },
      { type: 'dense', name: 'fc', out: 3 },
    ],
  },
  {
    name: 'dense + sigmoid, dense + softplus (vec4), dense',
    input: [12],
    batch: 5,
    layers: [
      { type: 'dense', name: 'a', out: 8 },
      { type: 'sigmoid' },
      { type: 'dense', name: 'b', out: 8 },
      { type: 'softplus' },
      { type: 'dense', name: 'c', out: 3 },
    ],
  },
  {
    name: 'dense, 64×64 tiles with split-K (K = 1100: 3 chunks) + tanh',
    input: [1100],
    batch: 64,
    layers: [{ type: 'dense', name: 'a', out: 64 }, { type: 'tanh' }, { type: 'dense', name: 'b', out: 3 }],
  },
  // Graphs (layers name their inputs): a layer's activation is fused only when it is the next layer, reads
  // that layer's output and is its one reader.
  DAG_NOT_NEXT_INPUT,
  DAG_RESIDUAL,
  DAG_BRANCH,
];

function run(be: Backend, c: Case, fuse: boolean, second: boolean) {
  const graph = buildGraph({ input: c.input, layers: c.layers });
  const r = rng(11);
  const up = (shape: readonly number[], label: string) =>
    be.upload(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r(-1, 1)),
      shape,
      label,
    );
  const params = new Map<string, BTensor>(),
    paramTangents = new Map<string, BTensor>();
  for (const [k, shape] of graph.params) {
    params.set(k, up(shape, k));
    paramTangents.set(k, up(shape, `${k} tangent`));
  }
  const x = up([c.batch, ...c.input], 'x'),
    xdot = up([c.batch, ...c.input], 'xdot');
  const classes = be.uploadIndices(
    Array.from({ length: c.batch }, (_, i) => i % 3),
    [c.batch],
    'classes',
  );
  const res: SweepResult = sweep(be, graph, {
    x,
    xdot: second ? xdot : null,
    params,
    paramTangents: second ? paramTangents : null,
    head: { kind: 'crossEntropy', classes, scale: 1 / c.batch },
    inputGrad: true,
    paramGrads: true,
    fuseActivations: fuse,
  });
  const outs = [
    res.logits,
    res.logitsDot,
    res.inputGrad,
    res.inputGradDot,
    ...[...res.paramGrads.values()].flatMap((g) => [g.grad, g.gradDot]),
  ];
  return {
    outs: outs.filter((t): t is BTensor => !!t),
    release: () => {
      res.release();
      be.release(x, xdot, classes, ...params.values(), ...paramTangents.values());
    },
  };
}

describe('activations fused into the GEMM epilogue', () => {
  for (const c of CASES) {
    for (const second of [false, true]) {
      it(`${c.name}: fused = unfused (${second ? 'forward+tangent, backward2, parameter tangents' : 'forward, backward'})`, async () => {
        for (const be of [
          await (await webgpuEngine()).backendForCall(),
          await (await wasmEngine()).backendForCall(),
          await (await createEngine({ backend: 'cpu' })).backendForCall(),
        ]) {
          const a = run(be, c, true, second),
            b = run(be, c, false, second);
          expect(a.outs.length).toBe(b.outs.length);
          const [got, want] = [await be.read(a.outs), await be.read(b.outs)];
          // The same float operations in the same order, stored once instead of stored and read back: on cpu
          // (float64) identical; on webgpu within float32 rounding of a compiler's fma contraction; on wasm the
          // epilogue is the activation kernel run over the GEMM's result, the same operations as unfused.
          got.forEach((g, i) =>
            expect(relL2(g, want[i]), `${be.name} output ${i}`).toBeLessThan(be.name === 'cpu' ? 1e-15 : 1e-6),
          );
          a.release();
          b.release();
        }
      });
    }
  }

  /** A dispatch's label without the kernel and split it names in brackets ('gemm fc.forward [direct]'). */
  const opName = (label: string) => label.replace(/ \[[^\]]*\]$/, '');

  it('in a graph, fuses an activation only into the layer whose output it alone reads', async () => {
    const engine = await createEngine({ backend: 'webgpu' });
    const be = await engine.backendForCall();
    const forwardLabels = async (c: Case) => {
      const p = await engine.profile(async () => {
        const a = run(be, c, true, false);
        await be.read([a.outs[0]]);
        a.release();
      });
      if (!p.supported) throw new Error(p.reason);
      return p.kernels.map((k) => opName(k.label)).filter((l) => /forward/.test(l));
    };
    expect(await forwardLabels(DAG_NOT_NEXT_INPUT)).toEqual(['conv2d forward', 'softplus forward', 'gemm fc.forward']);
    expect(await forwardLabels(DAG_RESIDUAL)).toEqual(['conv2d forward', 'tanh forward', 'gemm fc.forward']);
    expect(await forwardLabels(DAG_BRANCH)).toEqual(['conv2d forward', 'conv2d forward + softplus', 'gemm fc.forward']);
    engine.dispose();
  });

  it('saves a dispatch per dense/conv + activation pair: LeNet forward is 5 dispatches, its input HVP 21', async () => {
    const c = oracleCases().find((k) => k.name === 'lenet')!;
    const engine = await createEngine({ backend: 'webgpu' });
    const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!,
      v = c.tensors.get('v')!;
    const count = async (fn: () => Promise<unknown>) => {
      const p = await engine.profile(fn);
      if (!p.supported) throw new Error(p.reason);
      return p.kernels.map((k) => opName(k.label));
    };
    // conv1 + softplus, maxpool, conv2 + softplus, avgpool, fc (was 7 with the two activations on their own).
    const forward = await count(() => model.forward(x));
    expect(forward).toEqual([
      'conv2d forward + softplus',
      'maxpool forward',
      'conv2d forward + softplus',
      'avgpool forward',
      'gemm fc.forward',
    ]);
    const hvp = await count(() => model.inputHvp(x, v, { kind: 'logit', target: c.json.target }));
    expect(hvp.length).toBe(21); // 23 unfused
    expect(hvp.filter((l) => /softplus (forward|tangent)/.test(l) && !l.startsWith('conv2d'))).toEqual([]);
    engine.dispose();
  });
});
