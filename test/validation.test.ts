import { describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine.js';
import { SmoothgeoError } from '../src/errors.js';
import { loadModel } from '../src/graph/model.js';
import { buildGraph } from '../src/graph/spec.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';
import { cpuEngine, oracleCases } from './helpers.js';

/** Asserts that fn throws a SmoothgeoError with this code whose message matches. */
async function rejects(fn: () => unknown, code: string, message: RegExp): Promise<void> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(SmoothgeoError);
  expect((err as SmoothgeoError).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

const mlp = {
  input: [4],
  layers: [{ type: 'dense', name: 'fc1', out: 3 }, { type: 'tanh' }, { type: 'dense', name: 'fc2', out: 2 }],
};
const t = (shape: number[], fill = 0.1): Tensor => ({
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill),
});
const mlpWeights = (): Record<string, Tensor> => ({
  'fc1.weight': t([3, 4]),
  'fc1.bias': t([3]),
  'fc2.weight': t([2, 3]),
  'fc2.bias': t([2]),
});

describe('spec validation', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 42, /model spec must be an object/],
    ['unknown top-level field', { ...mlp, extra: 1 }, /unknown field 'extra'/],
    ['bad input shape', { ...mlp, input: [1, 28] }, /'input' must be \[C, H, W\] or \[features\]/],
    ['no layers', { input: [4], layers: [] }, /'layers' must be a non-empty array/],
    [
      'unknown layer type',
      { input: [4], layers: [{ type: 'conv3d' }] },
      /layers\[0\].*unknown layer type "conv3d"; known types: dense, conv2d/,
    ],
    [
      'layer without a type',
      { input: [4], layers: [{ name: 'x' }] },
      /layers\[0\]: must be an object with a string 'type'/,
    ],
    [
      'unknown field (typo)',
      { input: [1, 8, 8], layers: [{ type: 'conv2d', name: 'c', out: 2, kernel: 3, strides: 2 }, { type: 'flatten' }] },
      /layers\[0\] \(conv2d\): unknown field 'strides'.*allowed: name, out, kernel, stride, padding, bias/,
    ],
    [
      'dense without a name',
      { input: [4], layers: [{ type: 'dense', out: 2 }] },
      /layers\[0\] \(dense\): a dense layer needs a 'name'/,
    ],
    [
      'dense on an image',
      { input: [1, 4, 4], layers: [{ type: 'dense', name: 'fc', out: 2 }] },
      /dense expects a flat input but gets \[1, 4, 4\]; add a flatten layer/,
    ],
    [
      'kernel larger than the input',
      { input: [1, 4, 4], layers: [{ type: 'conv2d', name: 'c', out: 2, kernel: 5 }, { type: 'flatten' }] },
      /layers\[0\] \(conv2d\): kernel 5 does not fit the input height 4/,
    ],
    [
      'non-integer out',
      { input: [4], layers: [{ type: 'dense', name: 'fc', out: 2.5 }] },
      /field 'out' must be an integer in \[1, 2147483647\], got 2.5/,
    ],
    [
      'negative beta',
      { input: [4], layers: [{ type: 'softplus', beta: -1 }] },
      /field 'beta' must be a finite number > 0, got -1/,
    ],
    [
      'image output',
      { input: [1, 4, 4], layers: [{ type: 'relu' }] },
      /last layer must output flat logits \[classes\], but it outputs \[1, 4, 4\]/,
    ],
    [
      'duplicate parameter names',
      {
        input: [4],
        layers: [
          { type: 'dense', name: 'fc', out: 4 },
          { type: 'dense', name: 'fc', out: 2 },
        ],
      },
      /parameter name 'fc.weight' is used by an earlier layer/,
    ],
    [
      'bad kernel pair',
      { input: [1, 4, 4], layers: [{ type: 'maxpool2d', kernel: [2, 2, 2] }, { type: 'flatten' }] },
      /field 'kernel' must be an integer >= 1 or a pair \[h, w\]/,
    ],
  ];
  it.each(cases)('%s', async (_name, spec, message) => rejects(() => buildGraph(spec), 'INVALID_SPEC', message));
});

describe('weights validation', () => {
  const load = async (w: Record<string, Tensor>) => loadModel(await cpuEngine(), mlp, encodeSafetensors(w));
  it('accepts matching weights', async () => {
    expect((await load(mlpWeights())).classes).toBe(2);
  });
  it('missing tensor', async () => {
    const w = mlpWeights();
    delete w['fc2.bias'];
    await rejects(() => load(w), 'INVALID_SPEC', /missing tensor 'fc2.bias' \(shape \[2\]\)/);
  });
  it('extra tensor', async () =>
    rejects(
      () => load({ ...mlpWeights(), 'fc3.weight': t([1]) }),
      'INVALID_SPEC',
      /weights hold 1 tensor\(s\) the spec does not use: fc3.weight; expected exactly: fc1.weight, fc1.bias, fc2.weight, fc2.bias/,
    ));
  it('wrong shape', async () =>
    rejects(
      () => load({ ...mlpWeights(), 'fc1.weight': t([4, 3]) }),
      'INVALID_SPEC',
      /'fc1.weight' has shape \[4, 3\] but the spec needs \[3, 4\]/,
    ));
  it('NaN in a weight', async () => {
    const w = mlpWeights();
    w['fc1.bias'].data[1] = NaN;
    await rejects(() => load(w), 'INVALID_ARGUMENT', /weight 'fc1.bias' has a non-finite value \(NaN\) at \[1\]/);
  });
  it('malformed safetensors', async () =>
    rejects(
      async () => loadModel(await cpuEngine(), mlp, new Uint8Array([1, 2, 3])),
      'INVALID_SAFETENSORS',
      /expected at least 8/,
    ));
  it('prefix selects the parameters and ignores other tensors', async () => {
    const c = oracleCases()[0];
    await rejects(async () => loadModel(await cpuEngine(), c.json.model, c.bytes), 'INVALID_SPEC', /missing tensor/);
    expect((await loadModel(await cpuEngine(), c.json.model, c.bytes, { prefix: 'param.' })).classes).toBe(10);
  });
});

describe('call validation', async () => {
  const model = await loadModel(await cpuEngine(), mlp, encodeSafetensors(mlpWeights()));
  const x = t([2, 4]);
  const logit = { kind: 'logit' as const, target: [0, 1] };
  it('x of the wrong shape', () =>
    rejects(() => model.forward(t([2, 5])), 'INVALID_ARGUMENT', /x has shape \[2, 5\], expected \[B, 4\]/));
  it('x with Infinity', () => {
    const bad = t([2, 4]);
    bad.data[6] = Infinity;
    return rejects(() => model.forward(bad), 'INVALID_ARGUMENT', /x has a non-finite value \(Infinity\) at \[1, 2\]/);
  });
  it('x data not float32', () =>
    rejects(
      () => model.forward({ shape: [1, 4], data: [1, 2, 3, 4] as unknown as Float32Array }),
      'INVALID_ARGUMENT',
      /x.data must be a Float32Array, got Array/,
    ));
  it('x data length not matching its shape', () =>
    rejects(
      () => model.forward({ shape: [2, 4], data: new Float32Array(7) }),
      'INVALID_ARGUMENT',
      /x has 7 values but its shape \[2, 4\] needs 8/,
    ));
  it('v of the wrong shape', () =>
    rejects(() => model.inputHvp(x, t([1, 4]), logit), 'INVALID_ARGUMENT', /v has shape \[1, 4\], expected \[2, 4\]/));
  it('target out of range', () =>
    rejects(
      () => model.inputGradient(x, { kind: 'logit', target: [0, 2] }),
      'INVALID_ARGUMENT',
      /objective.target\[1\] = 2 is not a class index in \[0, 1\]/,
    ));
  it('one label per example', () =>
    rejects(
      () => model.inputGradient(x, { kind: 'crossEntropy', labels: [0] }),
      'INVALID_ARGUMENT',
      /objective.labels must be an array of 2 class indices/,
    ));
  it('unknown objective', () =>
    rejects(
      () => model.inputGradient(x, { kind: 'mse', target: [0, 0] } as never),
      'INVALID_ARGUMENT',
      /objective.kind must be 'logit', 'probability' or 'crossEntropy', got "mse"/,
    ));
  it('parameter direction missing a parameter', () => {
    const v = mlpWeights();
    delete v['fc1.bias'];
    return rejects(
      () => model.paramHvp(x, v, logit),
      'INVALID_ARGUMENT',
      /v is missing parameter 'fc1.bias' \(shape \[3\]\)/,
    );
  });
  it('Gauss–Newton labels', () =>
    rejects(
      () => model.gaussNewtonProduct(x, x, [0, 5]),
      'INVALID_ARGUMENT',
      /labels\[1\] = 5 is not a class index in \[0, 1\]/,
    ));
  it('unknown backend', () =>
    rejects(
      () => createEngine({ backend: 'cuda' as never }),
      'INVALID_ARGUMENT',
      /createEngine: backend must be 'auto' or 'webgpu' or 'wasm' or 'cpu', got "cuda"/,
    ));
  it.each([0, 1.5, 257, '2'])('wasm threads %j', (threads) =>
    rejects(
      () => createEngine({ backend: 'wasm', threads: threads as never }),
      'INVALID_ARGUMENT',
      /createEngine: threads must be an integer from 1 to 256, got /,
    ),
  );
});
