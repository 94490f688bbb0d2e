import { describe, expect, it } from 'vitest';
import {
  attackExplanation,
  averageSensitivity,
  createEngine,
  densityPlotPng,
  encodeSafetensors,
  fgsm,
  heatmapPng,
  hessianDensity,
  hessianEigen,
  hessianTrace,
  inputXGradient,
  integratedGradients,
  LIMITS,
  loadModel,
  localLipschitzEstimate,
  noiseTunnel,
  pgd,
  robustAccuracy,
  saliency,
  sensitivityMax,
  smoothGrad,
  smoothGradSquared,
  tensor,
  uniformGradient,
  varGrad,
  type Engine,
  type Model,
  type Tensor,
} from '../src/index.js';
import { SmoothgeoError } from '../src/errors.js';
import { buildGraph } from '../src/graph/spec.js';
import type { Backend } from '../src/backend/backend.js';
import type { WebGPUBackend } from '../src/backend/webgpu/webgpu.js';
import { BACKENDS, cpuEngine, webgpuEngine } from './helpers.js';

/**
 * Hostile and careless use of every public entry point (issue 13): each call must give a SmoothgeoError
 * whose code and message say what was wrong, reported through the promise for async functions; nothing
 * may run away.
 */

/** Asserts a SmoothgeoError with this code and message (and a message of readable length). */
async function rejects(fn: () => unknown, code: string, message: RegExp): Promise<SmoothgeoError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a SmoothgeoError ${code} ${message}`).toBeInstanceOf(SmoothgeoError);
  expect((err as SmoothgeoError).code, (err as Error).message).toBe(code);
  expect((err as Error).message).toMatch(message);
  expect((err as Error).message.length).toBeLessThan(600);
  return err as SmoothgeoError;
}

const fill = (shape: number[], f: (i: number) => number): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, (_, i) => f(i)) };
};

// A small MLP (4 → 3 → 3 classes) with a softplus, and a small CNN on [1, 4, 4] images.
const mlpSpec = {
  input: [4],
  layers: [{ type: 'dense', name: 'fc1', out: 3 }, { type: 'softplus' }, { type: 'dense', name: 'fc2', out: 3 }],
};
const mlpWeights = (scale = 1) => ({
  'fc1.weight': fill([3, 4], (i) => scale * Math.sin(i + 1)),
  'fc1.bias': fill([3], (i) => 0.1 * i),
  'fc2.weight': fill([3, 3], (i) => Math.cos(i)),
  'fc2.bias': fill([3], () => 0),
});
const cnnSpec = {
  input: [1, 4, 4],
  layers: [
    { type: 'conv2d', name: 'conv', out: 2, kernel: 3, padding: 1 },
    { type: 'softplus', beta: 2 },
    { type: 'flatten' },
    { type: 'dense', name: 'fc', out: 3 },
  ],
};
const cnnWeights = () => ({
  'conv.weight': fill([2, 1, 3, 3], (i) => 0.3 * Math.sin(i + 2)),
  'conv.bias': fill([2], () => 0.05),
  'fc.weight': fill([3, 32], (i) => 0.2 * Math.cos(i)),
  'fc.bias': fill([3], (i) => 0.01 * i),
});

async function mlp(
  engine: Engine,
  spec: unknown = mlpSpec,
  weights: Record<string, Tensor> = mlpWeights(),
): Promise<Model> {
  return loadModel(engine, spec, encodeSafetensors(weights));
}
const x4 = fill([2, 4], (i) => 0.1 * (i + 1));
const img = fill([1, 1, 4, 4], (i) => (i % 5) / 5);

describe('1. layer types are own names only', () => {
  it.each(['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', 'isPrototypeOf'])(
    'type %s is an unknown layer type',
    async (type) => {
      const spec = { input: [4], layers: [{ type, name: 'x', out: 2 }] };
      await rejects(
        () => buildGraph(spec),
        'INVALID_SPEC',
        new RegExp(`layers\\[0\\].*unknown layer type "${type}"; known types: dense, conv2d`),
      );
    },
  );
});

describe('2. echoed user values are cut, never recursed into', () => {
  it('a deeply nested array in a spec field', async () => {
    let deep: unknown = [1];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    await rejects(
      () => buildGraph({ input: deep, layers: [] }),
      'INVALID_SPEC',
      /'input' must be \[C, H, W\] or \[features\]/,
    );
    await rejects(
      () => buildGraph({ input: [4], layers: [{ type: 'dense', name: 'fc', out: deep }] }),
      'INVALID_SPEC',
      /field 'out' must be an integer in \[1, 2147483647\], got \[\[…1\]\]/,
    );
  });

  it('a million-element field', async () => {
    const big = new Array(1_000_000).fill(7);
    await rejects(
      () => buildGraph({ input: [4], layers: [{ type: 'dense', name: 'fc', out: big }] }),
      'INVALID_SPEC',
      /got \[7,7,7,7,7,7,7,7, … \(1000000 elements\)\]/,
    );
  });

  it('a 100,000-entry shape', async () => {
    const model = await mlp(await cpuEngine());
    await rejects(
      () => model.forward({ shape: new Array(100_000).fill(1), data: new Float32Array(1) }),
      'INVALID_ARGUMENT',
      /x has shape \[1, 1, 1, 1, 1, 1, 1, 1, … \(100000 dimensions\)\], expected \[B, 4\]/,
    );
  });

  it('a huge unknown option name and a huge string value', async () => {
    const model = await mlp(await cpuEngine());
    await rejects(
      () => smoothGrad(model, x4, { target: [0, 1], sigma: 0.1, ['s'.repeat(1_000_000)]: 1 } as any),
      'INVALID_ARGUMENT',
      /smoothGrad: unknown option 'sss+\.\.\.'; allowed: target/,
    );
    await rejects(
      () => smoothGrad(model, x4, { target: [0, 1], sigma: 'x'.repeat(1_000_000) } as any),
      'INVALID_ARGUMENT',
      /smoothGrad: sigma must be a finite number > 0, got "xxx+\.\.\./,
    );
  });
});

describe('3. a non-finite result is an error naming the layer where it first appeared', () => {
  for (const [backend, engine] of BACKENDS) {
    it(`${backend}: weights of 3e38 overflow in the first dense layer`, async () => {
      const model = await mlp(await engine(), mlpSpec, { ...mlpWeights(), 'fc1.weight': fill([3, 4], () => 3e38) });
      await rejects(
        () => model.forward(x4),
        'NON_FINITE',
        /Infinity or NaN first appeared in the forward pass of layers\[0\] \(dense fc1\)/,
      );
      await rejects(
        () => model.inputGradient(x4, { kind: 'logit', target: [0, 1] }),
        'NON_FINITE',
        /forward pass of layers\[0\] \(dense fc1\)/,
      );
      await rejects(
        () => smoothGrad(model, x4, { target: [0, 1], sigma: 0.1, samples: 4, seed: 1 }),
        'NON_FINITE',
        /forward pass of layers\[0\] \(dense fc1\)/,
      );
    });

    it(`${backend}: softplus beta = 5e-324 overflows in the softplus layer`, async () => {
      const spec = { ...mlpSpec, layers: [mlpSpec.layers[0], { type: 'softplus', beta: 5e-324 }, mlpSpec.layers[2]] };
      const model = await mlp(await engine(), spec);
      await rejects(
        () => model.forward(x4),
        'NON_FINITE',
        /first appeared in the forward pass of layers\[1\] \(softplus\)/,
      );
    });

    it(`${backend}: a gradient that overflows only backward is named in the backward pass`, async () => {
      // Forward stays finite (x = 0), but ∂/∂x = W1ᵀ·… with |W1| = 3e38 overflows summed over 3 rows.
      const w = mlpWeights();
      w['fc1.weight'] = fill([3, 4], () => 3e38);
      w['fc2.weight'] = fill([3, 3], () => 1);
      const model = await mlp(await engine(), mlpSpec, w);
      const zero = fill([1, 4], () => 0);
      await expect(model.forward(zero)).resolves.toBeDefined();
      await rejects(
        () => model.inputGradient(zero, { kind: 'logit', target: [0] }),
        'NON_FINITE',
        /first appeared in the backward pass of layers\[0\] \(dense fc1\)/,
      );
    });
  }

  it('finite results are unchanged by the check', async () => {
    const model = await mlp(await webgpuEngine());
    const ref = await mlp(await cpuEngine());
    const a = await model.inputGradient(x4, { kind: 'logit', target: [0, 2] });
    const b = await ref.inputGradient(x4, { kind: 'logit', target: [0, 2] });
    for (let i = 0; i < a.data.length; i++) expect(a.data[i]).toBeCloseTo(b.data[i], 5);
  });
});

describe('4. every option is checked, with its name and the accepted values', () => {
  it('attackExplanation: explain.target, explain.output, measureSeed, misspelled explain options', async () => {
    const model = await mlp(await cpuEngine(), cnnSpec, cnnWeights());
    const base = { attack: 'topk' as const, epsilon: 0.1, iterations: 1 };
    for (const bad of [10, -1, 1.5, 1e6]) {
      await rejects(
        () => attackExplanation(model, img, { ...base, explain: { method: 'saliency', target: [bad] } }),
        'INVALID_ARGUMENT',
        new RegExp(
          `attackExplanation: explain.target\\[0\\] = ${String(bad).replace('.', '\\.')} is not a class index in \\[0, 2\\]`,
        ),
      );
    }
    await rejects(
      () => attackExplanation(model, img, { ...base, explain: { method: 'saliency', output: 'logits' as any } }),
      'INVALID_ARGUMENT',
      /explain.output must be 'logit' or 'probability', got "logits"/,
    );
    await rejects(
      () => attackExplanation(model, img, { ...base, explain: { method: 'saliency' }, measureSeed: -1 }),
      'INVALID_ARGUMENT',
      /seed must be an integer in \[0, 2\^53\), got -1/,
    );
    await rejects(
      () => attackExplanation(model, img, { ...base, explain: { method: 'smoothGrad', sigmaa: 0.1 } as any }),
      'INVALID_ARGUMENT',
      /explain \(method 'smoothGrad'\): unknown option 'sigmaa'; allowed: .*sigma, relativeSigma, samples/,
    );
    await rejects(
      () => attackExplanation(model, img, { ...base, explain: { method: 'saliency' }, stepSize: -0.01 }),
      'INVALID_ARGUMENT',
      /attackExplanation: stepSize must be a finite number > 0, got -0.01/,
    );
  });

  it('pgd and fgsm: stepSize, range, epsilon', async () => {
    const model = await mlp(await cpuEngine());
    const o = { labels: [0, 1], epsilon: 0.1, iterations: 2, seed: 1 };
    for (const step of [-0.1, 0, '0.1', NaN]) {
      await rejects(
        () => pgd(model, x4, { ...o, stepSize: step as any }),
        'INVALID_ARGUMENT',
        /pgd: stepSize must be a finite number > 0, got /,
      );
    }
    await rejects(
      () => pgd(model, x4, { ...o, range: [1, 0] }),
      'INVALID_ARGUMENT',
      /pgd: range must be \[lo, hi\] with finite lo < hi, got \[1,0\]/,
    );
    await rejects(
      () => fgsm(model, x4, { labels: [0, 1], epsilon: 0.1, range: [1, 0] }),
      'INVALID_ARGUMENT',
      /fgsm: range must be \[lo, hi\]/,
    );
    await rejects(
      () => fgsm(model, x4, { labels: [0, 1], epsilon: 0.1, iterations: 3 } as any),
      'INVALID_ARGUMENT',
      /fgsm: unknown option 'iterations'; allowed: labels, epsilon, norm, range, seed, signal/,
    );
    await rejects(
      () => pgd(model, x4, { ...o, epsilon: NaN }),
      'INVALID_ARGUMENT',
      /pgd: epsilon must be a finite number > 0, got NaN/,
    );
  });

  it('attribution methods: booleans, null for a default, misspelled options', async () => {
    const model = await mlp(await cpuEngine());
    await rejects(
      () => saliency(model, x4, { target: [0, 1], absolute: 'no' as any }),
      'INVALID_ARGUMENT',
      /saliency: absolute must be true or false, got "no"/,
    );
    await rejects(
      () => smoothGrad(model, x4, { target: [0, 1], sigma: 0.1, samples: null as any }),
      'INVALID_ARGUMENT',
      /smoothGrad: samples is null; omit it for the default/,
    );
    await rejects(
      () => integratedGradients(model, x4, { target: [0, 1], steps: null as any }),
      'INVALID_ARGUMENT',
      /integratedGradients: steps is null/,
    );
    await rejects(
      () => integratedGradients(model, x4, { target: [0, 1], rule: null as any }),
      'INVALID_ARGUMENT',
      /integratedGradients: rule is null/,
    );
    await rejects(
      () => uniformGradient(model, x4, { target: [0, 1], radius: 0.1, shape: null as any }),
      'INVALID_ARGUMENT',
      /uniformGradient: shape is null/,
    );
    await rejects(
      () => smoothGrad(model, x4, { target: [0, 1], sigmaa: 0.1 } as any),
      'INVALID_ARGUMENT',
      /smoothGrad: unknown option 'sigmaa'; allowed: target, output, exampleIds, batchSize, maxBytes, signal, samples, seed, sigma, relativeSigma, noise/,
    );
    await rejects(
      () => noiseTunnel(model, x4, { target: [0, 1], method: 'saliency', sigma: 0.1, steps: 4 }),
      'INVALID_ARGUMENT',
      /noiseTunnel: option 'steps' applies to method 'integratedGradients' only/,
    );
  });

  it('heatmapPng: palette and the map length; tensor: negative shapes; loadModel: the engine', async () => {
    const map = fill([3, 3], (i) => i);
    await rejects(
      () => heatmapPng(map, { palette: 'rainbow' as any }),
      'INVALID_ARGUMENT',
      /heatmapPng: palette must be 'diverging' or 'sequential', got "rainbow"/,
    );
    await rejects(
      () => heatmapPng({ shape: [3, 3], data: new Float32Array(18) }),
      'INVALID_ARGUMENT',
      /heatmapPng: map has 18 values but its shape \[3, 3\] needs 9/,
    );
    await rejects(
      () => heatmapPng(map, { colours: 2 } as any),
      'INVALID_ARGUMENT',
      /heatmapPng: unknown option 'colours'; allowed: palette, scale/,
    );
    await rejects(
      () => tensor(new Float32Array(4), [-2, -2]),
      'INVALID_ARGUMENT',
      /tensor: shape must be an array of non-negative integers, got \[-2, -2\]/,
    );
    await rejects(
      () => loadModel(null as any, mlpSpec, encodeSafetensors(mlpWeights())),
      'INVALID_ARGUMENT',
      /loadModel: engine must be an Engine from createEngine\(\), got null/,
    );
    await rejects(
      async () => loadModel(await cpuEngine(), mlpSpec, encodeSafetensors(mlpWeights()), { prefx: 'a' } as any),
      'INVALID_ARGUMENT',
      /loadModel: unknown option 'prefx'; allowed: prefix/,
    );
  });

  it('the objective: unknown keys and arrays', async () => {
    const model = await mlp(await cpuEngine());
    await rejects(
      () => model.inputGradient(x4, { kind: 'logit', target: [0, 1], labels: [0, 1] } as any),
      'INVALID_ARGUMENT',
      /objective: unknown option 'labels'; allowed: kind, target/,
    );
  });
});

describe('5. null and undefined arguments are INVALID_ARGUMENT naming the argument', () => {
  it('each public function', async () => {
    const engine = await cpuEngine();
    const model = await mlp(engine);
    await rejects(
      () => smoothGrad(model, x4, null as any),
      'INVALID_ARGUMENT',
      /smoothGrad: options must be an object, got null/,
    );
    await rejects(
      () => smoothGrad(model, x4, undefined as any),
      'INVALID_ARGUMENT',
      /smoothGrad: options must be an object, got undefined/,
    );
    await rejects(
      () => model.inputGradient(x4, null as any),
      'INVALID_ARGUMENT',
      /objective must be \{ kind: 'logit' \| 'probability', target: number\[\] \} .*, got null/,
    );
    await rejects(
      () => model.inputHvp(null as any, x4, { kind: 'logit', target: [0, 1] }),
      'INVALID_ARGUMENT',
      /x must be a tensor/,
    );
    await rejects(
      () => model.inputHvp(x4, null as any, { kind: 'logit', target: [0, 1] }),
      'INVALID_ARGUMENT',
      /v must be a tensor/,
    );
    await rejects(
      () => model.paramHvp(x4, null as any, { kind: 'logit', target: [0, 1] }),
      'INVALID_ARGUMENT',
      /v must be a record from parameter name to tensor/,
    );
    await rejects(() => model.forward(null as any), 'INVALID_ARGUMENT', /x must be a tensor/);
    await rejects(
      () => heatmapPng(null as any),
      'INVALID_ARGUMENT',
      /heatmapPng: map must be a tensor of shape \[H, W\] or \[C, H, W\], got null/,
    );
    await rejects(
      () => saliency(null as any, x4, { target: [0] }),
      'INVALID_ARGUMENT',
      /saliency: model must be a Model from loadModel\(\), got null/,
    );
    await rejects(() => pgd(model, x4, null as any), 'INVALID_ARGUMENT', /pgd: options must be an object, got null/);
    await rejects(() => hessianTrace(model, x4, null as any), 'INVALID_ARGUMENT', /objective must be .*got null/);
    await rejects(
      () => hessianEigen(model, x4, { kind: 'logit', target: [0, 1] }, null as any),
      'INVALID_ARGUMENT',
      /hessianEigen: options must be an object, got null/,
    );
    await rejects(
      () => loadModel(engine, mlpSpec, null as any),
      'INVALID_ARGUMENT',
      /loadModel: weights must be the safetensors bytes/,
    );
    await rejects(
      () => encodeSafetensors(null as any),
      'INVALID_ARGUMENT',
      /encodeSafetensors: tensors must be a record or Map/,
    );
    await rejects(
      () => sensitivityMax(async (t) => t, x4, null as any),
      'INVALID_ARGUMENT',
      /sensitivityMax: options must be an object, got null/,
    );
    await rejects(
      () => createEngine(null as any),
      'INVALID_ARGUMENT',
      /createEngine: options must be an object, got null/,
    );
  });
});

describe('6. functions that return a promise report every error through it', () => {
  it('no synchronous throw, a rejected promise', async () => {
    const model = await mlp(await cpuEngine());
    const bad = { target: [0, 1], sigma: -1 };
    const calls: [string, () => Promise<unknown>][] = [
      ['smoothGrad', () => smoothGrad(model, x4, bad)],
      ['smoothGradSquared', () => smoothGradSquared(model, x4, bad)],
      ['varGrad', () => varGrad(model, x4, bad)],
      ['uniformGradient', () => uniformGradient(model, x4, { target: [0, 1], radius: -1 })],
      ['fgsm', () => fgsm(model, x4, { labels: [0, 1], epsilon: -1 })],
      ['pgd', () => pgd(model, x4, { labels: [0, 1], epsilon: -1 })],
      ['saliency', () => saliency(model, null as any, { target: [0] })],
      ['inputXGradient', () => inputXGradient(model, x4, null as any)],
      ['integratedGradients', () => integratedGradients(model, x4, { target: [0, 1], steps: 0 })],
      ['noiseTunnel', () => noiseTunnel(model, x4, { target: [0, 1], method: 'nope' as any, sigma: 0.1 })],
      ['hessianTrace', () => hessianTrace(model, x4, { kind: 'logit', target: [0, 1] }, { samples: -3 })],
      ['attackExplanation', () => attackExplanation(model, x4, null as any)],
      ['createEngine', () => createEngine({ backend: 'tpu' as any })],
      ['loadModel', () => loadModel(null as any, null, null as any)],
      ['averageSensitivity', () => averageSensitivity(null as any, x4)],
    ];
    for (const [name, call] of calls) {
      let p: Promise<unknown> | undefined;
      expect(() => {
        p = call();
      }, name).not.toThrow();
      await expect(p, name).rejects.toBeInstanceOf(SmoothgeoError);
    }
  });
});

describe('7. unbounded work is refused before it starts; long calls stop on their signal', () => {
  it('work past a documented limit is LIMIT_EXCEEDED', async () => {
    const model = await mlp(await cpuEngine());
    const obj = { kind: 'logit' as const, target: [0, 1] };
    await rejects(
      () => smoothGrad(model, x4, { target: [0, 1], sigma: 0.1, samples: 1e9 }),
      'LIMIT_EXCEEDED',
      /gradient evaluations .* is 2,000,000,000, past the limit of 4,194,304 \(LIMITS.gradientEvaluations\)/,
    );
    await rejects(
      () => integratedGradients(model, x4, { target: [0, 1], steps: 1e7 }),
      'LIMIT_EXCEEDED',
      /LIMITS.gradientEvaluations/,
    );
    await rejects(() => hessianDensity(model, x4, obj, { probes: 1e6 }), 'LIMIT_EXCEEDED', /LIMITS.hessianProducts/);
    await rejects(() => hessianTrace(model, x4, obj, { samples: 1e9 }), 'LIMIT_EXCEEDED', /LIMITS.hessianProducts/);
    await rejects(
      () => pgd(model, x4, { labels: [0, 1], epsilon: 0.1, iterations: 1e9 }),
      'LIMIT_EXCEEDED',
      /LIMITS.attackIterations/,
    );
    const cnn = await mlp(await cpuEngine(), cnnSpec, cnnWeights());
    await rejects(
      () =>
        attackExplanation(cnn, img, { attack: 'topk', explain: { method: 'saliency' }, epsilon: 0.1, iterations: 1e9 }),
      'LIMIT_EXCEEDED',
      /LIMITS.attackIterations/,
    );
    await rejects(
      () =>
        attackExplanation(cnn, img, {
          attack: 'topk',
          explain: { method: 'smoothGrad', sigma: 0.1, samples: 1e6 },
          epsilon: 0.1,
          iterations: 100,
        }),
      'LIMIT_EXCEEDED',
      /LIMITS.attackEvaluations/,
    );
    await rejects(
      () =>
        heatmapPng(
          fill([2048, 2048], () => 1),
          { scale: 64 },
        ),
      'LIMIT_EXCEEDED',
      /heatmapPng: the image pixels .* past the limit of 67,108,864 \(LIMITS.imagePixels\)/,
    );
    await rejects(
      () =>
        densityPlotPng(
          { nodes: new Array(100_000).fill(0), weights: new Array(100_000).fill(1e-5) },
          { bins: 1 << 20 },
        ),
      'LIMIT_EXCEEDED',
      /LIMITS.plotTerms/,
    );
    const explain = async (t: Tensor) => t;
    await rejects(() => sensitivityMax(explain, x4, { samples: 1e9 }), 'LIMIT_EXCEEDED', /LIMITS.metricRows/);
    await rejects(
      () =>
        averageSensitivity(
          explain,
          fill([1, 1000], () => 0),
          { samples: 100_000 },
        ),
      'LIMIT_EXCEEDED',
      /one explain call .*LIMITS.metricBatchValues/,
    );
    expect(LIMITS.gradientEvaluations).toBe(2 ** 22);
    expect(Object.isFrozen(LIMITS)).toBe(true);
  });

  /** The backend of `engine` with sampleReduce counted, and the signal aborted after `after` chunks. */
  function abortAfterChunks(engine: Engine, after: number, ac: AbortController): { chunks: number } {
    const seen = { chunks: 0 };
    const orig = engine.backendForCall.bind(engine);
    engine.backendForCall = async () => {
      const be = await orig();
      return new Proxy(be, {
        get(target, prop, recv) {
          const v = Reflect.get(target, prop, recv);
          if (prop !== 'sampleReduce') return typeof v === 'function' ? v.bind(target) : v;
          return (...args: Parameters<Backend['sampleReduce']>) => {
            if (++seen.chunks === after) ac.abort(new Error('stopped by the test'));
            return (v as Backend['sampleReduce']).apply(target, args);
          };
        },
      });
    };
    return seen;
  }

  it.each([
    [
      'smoothGrad',
      (m: Model, s: AbortSignal) =>
        smoothGrad(m, x4, { target: [0, 1], sigma: 0.1, samples: 100_000, batchSize: 4, signal: s }),
    ],
    [
      'smoothGradSquared',
      (m: Model, s: AbortSignal) =>
        smoothGradSquared(m, x4, { target: [0, 1], sigma: 0.1, samples: 100_000, batchSize: 4, signal: s }),
    ],
    [
      'varGrad',
      (m: Model, s: AbortSignal) =>
        varGrad(m, x4, { target: [0, 1], sigma: 0.1, samples: 100_000, batchSize: 4, signal: s }),
    ],
    [
      'uniformGradient',
      (m: Model, s: AbortSignal) =>
        uniformGradient(m, x4, { target: [0, 1], radius: 0.1, samples: 100_000, batchSize: 4, signal: s }),
    ],
    [
      'integratedGradients',
      (m: Model, s: AbortSignal) =>
        integratedGradients(m, x4, { target: [0, 1], steps: 100_000, rule: 'middle', batchSize: 4, signal: s }),
    ],
    [
      'noiseTunnel',
      (m: Model, s: AbortSignal) =>
        noiseTunnel(m, x4, {
          target: [0, 1],
          method: 'saliency',
          sigma: 0.1,
          samples: 100_000,
          batchSize: 4,
          signal: s,
        }),
    ],
  ])('%s stops after the chunk in which its signal fired', async (_, call) => {
    for (const backend of ['cpu', 'webgpu', 'wasm'] as const) {
      const engine = await createEngine({ backend });
      const model = await mlp(engine);
      const ac = new AbortController();
      const seen = abortAfterChunks(engine, 2, ac);
      await rejects(() => call(model, ac.signal), 'ABORTED', /was aborted by its signal \(stopped by the test\)/);
      expect(seen.chunks, backend).toBe(2);
      engine.dispose();
    }
  });

  it('an already-aborted signal stops every long-running function before any work', async () => {
    const model = await mlp(await cpuEngine());
    const cnn = await mlp(await cpuEngine(), cnnSpec, cnnWeights());
    const s = AbortSignal.abort(new Error('before'));
    const obj = { kind: 'logit' as const, target: [0, 1] };
    let explained = 0;
    const explain = async (t: Tensor) => {
      explained++;
      return t;
    };
    const calls: (() => Promise<unknown>)[] = [
      () => saliency(model, x4, { target: [0, 1], signal: s }),
      () => inputXGradient(model, x4, { target: [0, 1], signal: s }),
      () => smoothGrad(model, x4, { target: [0, 1], sigma: 0.1, signal: s }),
      () => hessianEigen(model, x4, obj, { signal: s }),
      () => hessianTrace(model, x4, obj, { signal: s }),
      () => hessianDensity(model, x4, obj, { signal: s }),
      () => pgd(model, x4, { labels: [0, 1], epsilon: 0.1, signal: s }),
      () => fgsm(model, x4, { labels: [0, 1], epsilon: 0.1, signal: s }),
      () => robustAccuracy(model, x4, { labels: [0, 1], epsilon: 0.1, signal: s }),
      () => attackExplanation(cnn, img, { attack: 'topk', explain: { method: 'saliency' }, epsilon: 0.1, signal: s }),
      () => sensitivityMax(explain, x4, { signal: s }),
      () => averageSensitivity(explain, x4, { signal: s }),
      () => localLipschitzEstimate(explain, x4, { signal: s }),
    ];
    for (const call of calls) await rejects(call, 'ABORTED', /aborted by its signal \(before\)/);
    expect(explained).toBe(0);
  });

  it('curvature, attacks and metrics stop at the next step after their signal fires', async () => {
    const engine = await cpuEngine();
    const model = await mlp(engine);
    const obj = { kind: 'logit' as const, target: [0, 1] };
    // Count model calls; abort on the 3rd.
    const counted = (m: Model, method: 'inputHvp' | 'inputGradient' | 'forward', ac: AbortController) => {
      const seen = { calls: 0 };
      const orig = (m[method] as (...a: unknown[]) => Promise<unknown>).bind(m);
      (m as any)[method] = (...a: unknown[]) => {
        if (++seen.calls === 3) ac.abort(new Error('third call'));
        return orig(...a);
      };
      return seen;
    };
    const cases: [string, 'inputHvp' | 'inputGradient' | 'forward', (m: Model, s: AbortSignal) => Promise<unknown>][] =
      [
        ['hessianTrace', 'inputHvp', (m, s) => hessianTrace(m, x4, obj, { samples: 100_000, batchSize: 1, signal: s })],
        [
          'hessianEigen',
          'inputHvp',
          (m, s) => hessianEigen(m, x4, obj, { method: 'power', iterations: 100_000, tol: 1e-300, signal: s }),
        ],
        [
          'hessianDensity',
          'inputHvp',
          (m, s) =>
            hessianDensity(
              m,
              fill([1, 4], (i) => i),
              { kind: 'logit', target: [0] },
              { probes: 2, iterations: 4, signal: s },
            ),
        ],
        ['pgd', 'inputGradient', (m, s) => pgd(m, x4, { labels: [0, 1], epsilon: 0.1, iterations: 40_000, signal: s })],
        [
          'robustAccuracy',
          'inputGradient',
          (m, s) => robustAccuracy(m, x4, { labels: [0, 1], epsilon: 0.1, iterations: 40_000, signal: s }),
        ],
        [
          'robustAccuracy, between batches',
          'inputGradient',
          // One step a batch of one: the 3rd gradient is the third of four batches, which then stops.
          (m, s) =>
            robustAccuracy(
              m,
              fill([4, 4], (i) => 0.05 * i),
              { labels: [0, 1, 0, 1], epsilon: 0.1, iterations: 1, batchSize: 1, signal: s },
            ),
        ],
      ];
    for (const [name, method, call] of cases) {
      const m = await mlp(engine);
      const ac = new AbortController();
      const seen = counted(m, method, ac);
      await rejects(() => call(m, ac.signal), 'ABORTED', /third call/);
      expect(seen.calls, name).toBe(3);
    }
    // attackExplanation: one clean forward, then one per iteration (plus the measure): abort on the third.
    const cnn = await mlp(engine, cnnSpec, cnnWeights());
    const ac = new AbortController();
    const seen = counted(cnn, 'forward', ac);
    await rejects(
      () =>
        attackExplanation(cnn, img, {
          attack: 'topk',
          explain: { method: 'saliency' },
          epsilon: 0.1,
          iterations: 100_000,
          signal: ac.signal,
        }),
      'ABORTED',
      /third call/,
    );
    expect(seen.calls).toBe(3);
    // Metrics: `explain` is called per batch; abort inside the second call.
    for (const metric of [sensitivityMax, averageSensitivity, localLipschitzEstimate]) {
      const ac2 = new AbortController();
      let calls = 0;
      const explain = async (t: Tensor) => {
        if (++calls === 2) ac2.abort(new Error('second batch'));
        return t;
      };
      await rejects(
        () => metric(explain, x4, { samples: 10_000, batchSize: 2, signal: ac2.signal }),
        'ABORTED',
        /second batch/,
      );
      expect(calls).toBe(2);
    }
    void model;
  });
});

describe('8. the cpu backend has a size limit', () => {
  it('a 4096-channel conv on a 512² input is refused at once', async () => {
    const spec = {
      input: [1, 512, 512],
      layers: [{ type: 'conv2d', name: 'conv', out: 4096, kernel: 3 }, { type: 'flatten' }],
    };
    const weights = { 'conv.weight': fill([4096, 1, 3, 3], () => 0.01), 'conv.bias': fill([4096], () => 0) };
    const model = await mlp(await cpuEngine(), spec, weights);
    await rejects(
      () => model.forward(fill([1, 1, 512, 512], () => 0.5)),
      'LIMIT_EXCEEDED',
      /conv2d \[1, 4096, 510, 510\] needs 4261478400 bytes, more than the cpu backend holds in one tensor \(268435456 bytes, LIMITS.cpuTensorBytes\)/,
    );
  });

  it('a convolution past the multiply-add limit is refused before its loops', async () => {
    const spec = {
      input: [64, 256, 256],
      layers: [{ type: 'conv2d', name: 'conv', out: 64, kernel: 11 }, { type: 'flatten' }],
    };
    const weights = { 'conv.weight': fill([64, 64, 11, 11], () => 0), 'conv.bias': fill([64], () => 0) };
    const model = await mlp(await cpuEngine(), spec, weights);
    await rejects(
      () => model.forward(fill([1, 64, 256, 256], () => 0)),
      'LIMIT_EXCEEDED',
      /conv2d on the cpu backend: its multiply-adds is 29,992,697,856, past the limit of 17,179,869,184 \(LIMITS.cpuMultiplyAdds\)/,
    );
  });
});

describe('9. one device recovery for every call that sees a loss', () => {
  it('five concurrent calls after a loss open one device and all succeed', async () => {
    const engine = await createEngine({ backend: 'webgpu' });
    const model = await mlp(engine);
    const want = await model.forward(x4);
    const be = (await engine.backendForCall()) as WebGPUBackend;
    // Count the devices opened: every recovery asks the adapter for one.
    const gpu = (be as any).gpu as GPU;
    let opened = 0;
    const orig = gpu.requestAdapter.bind(gpu);
    (be as any).gpu = {
      requestAdapter: async (o?: GPURequestAdapterOptions) => {
        opened++;
        return orig(o);
      },
    };
    be.device.destroy();
    await new Promise((r) => setTimeout(r, 50)); // let device.lost resolve
    const got = await Promise.all(Array.from({ length: 5 }, () => model.forward(x4)));
    expect(opened).toBe(1);
    expect(engine.generation).toBe(1);
    for (const g of got) expect(Array.from(g.data)).toEqual(Array.from(want.data));
    engine.dispose();
  });
});

describe('11. engine.trim() returns the idle pooled buffers', () => {
  it('frees the pool after a large call; later calls still work', async () => {
    const engine = await createEngine({ backend: 'webgpu' });
    const model = await mlp(engine);
    await smoothGrad(model, x4, { target: [0, 1], sigma: 0.1, samples: 2048, seed: 3 });
    const before = engine.memory()!.allocatedBytes;
    const freed = engine.trim();
    expect(freed).toBeGreaterThan(0);
    expect(engine.memory()!.allocatedBytes).toBe(before - freed);
    expect(engine.trim()).toBe(0);
    const again = await smoothGrad(model, x4, { target: [0, 1], sigma: 0.1, samples: 64, seed: 3 });
    expect(again.attributions.data.every(Number.isFinite)).toBe(true);
    expect((await cpuEngine()).trim()).toBe(0);
    engine.dispose();
  });
});

describe('10. safetensors strictness (as the reference implementation)', () => {
  /** A file with a raw header text and `dataBytes` zero data bytes. */
  const file = (header: string, dataBytes: number): Uint8Array => {
    const json = new TextEncoder().encode(header);
    const out = new Uint8Array(8 + json.length + dataBytes);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  };
  const f32 = (n: number, b: number) => `{"dtype":"F32","shape":[${n}],"data_offsets":[${b},${b + 4 * n}]}`;
  const parse = async (bytes: Uint8Array) => (await import('../src/io/safetensors.js')).parseSafetensors(bytes);

  it('duplicate keys', async () => {
    await rejects(
      () => parse(file(`{"w":${f32(1, 0)},"w":${f32(1, 0)}}`, 4)),
      'INVALID_SAFETENSORS',
      /header has the key "w" twice; every tensor name must be unique/,
    );
  });
  it('a hole between tensors', async () => {
    await rejects(
      () => parse(file(`{"a":${f32(1, 0)},"b":${f32(1, 8)}}`, 12)),
      'INVALID_SAFETENSORS',
      /data has a hole: bytes \[4, 8\) before tensor "b" belong to no tensor/,
    );
  });
  it('trailing bytes no tensor covers', async () => {
    await rejects(
      () => parse(file(`{"a":${f32(1, 0)}}`, 12)),
      'INVALID_SAFETENSORS',
      /8 trailing bytes after the last tensor \(tensors cover \[0, 4\) of 12 bytes\)/,
    );
  });
  it('a header that does not start with {', async () => {
    await rejects(
      () => parse(file(` {"a":${f32(1, 0)}}`, 4)),
      'INVALID_SAFETENSORS',
      /header must start with '\{' \(a JSON object\), found " \{\\"a\\"/,
    );
  });
  it('200,000 empty entries are refused by count before the JSON is parsed', async () => {
    const entries = Array.from(
      { length: 200_000 },
      (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`,
    );
    await rejects(
      () => parse(file(`{${entries.join(',')}}`, 0)),
      'LIMIT_EXCEEDED',
      /more than 65536 entries \(maxEntries\); refused before parsing it/,
    );
  });
  it('a valid file still loads', async () => {
    const r = await parse(file(`{"a":${f32(1, 0)},"b":${f32(2, 4)}}`, 12));
    expect([...r.tensors.keys()]).toEqual(['a', 'b']);
  });
});
