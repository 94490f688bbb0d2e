import { describe, expect, it } from 'vitest';
import {
  attackExplanation,
  mapToRawCotangent,
  type ExplanationAttackSnapshot,
} from '../src/attack/explanation-attack.js';
import { explainMap, explainVjp, gradientMean, prepareExplain, type ExplainSpec } from '../src/attack/explain.js';
import { fgsm, pgd } from '../src/attack/pgd.js';
import { attributionMap } from '../src/attribution/methods.js';
import { SmoothgeoError } from '../src/errors.js';
import { loadModel, type Model } from '../src/graph/model.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';
import type { Engine } from '../src/engine.js';
import { cpuEngine, FLOAT32_BACKENDS, oracleCases, randomTensor, relL2, rng, webgpuEngine } from './helpers.js';

/** A small softplus CNN on 8×8 images with random weights: curved everywhere, fast on the float64 backend. */
async function smallCnn(engine: () => Promise<Engine> = cpuEngine): Promise<Model> {
  const r = rng(21);
  const spec = {
    input: [2, 8, 8],
    layers: [
      { type: 'conv2d', name: 'c1', out: 3, kernel: 3, padding: 1 },
      { type: 'softplus', beta: 4 },
      { type: 'maxpool2d', kernel: 2 },
      { type: 'flatten' },
      { type: 'dense', name: 'fc', out: 4 },
    ],
  };
  const w = {
    'c1.weight': randomTensor([3, 2, 3, 3], r),
    'c1.bias': randomTensor([3], r),
    'fc.weight': randomTensor([4, 48], r),
    'fc.bias': randomTensor([4], r),
  };
  return loadModel(await engine(), spec, encodeSafetensors(w));
}
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('the attack gradient is exact', () => {
  const specs: ExplainSpec[] = [
    { method: 'saliency' },
    { method: 'saliency', absolute: true },
    { method: 'inputXGradient' },
    { method: 'smoothGrad', sigma: 0.1, samples: 6 },
    { method: 'uniformGradient', radius: 0.1, shape: 'ball', samples: 6 },
    {
      method: 'integratedGradients',
      steps: 8,
      baseline: { shape: [2, 2, 8, 8], data: new Float32Array(256).fill(0.2) },
    },
  ];
  it.each(specs.map((s) => [`${s.method}${s.absolute ? ' |·|' : ''}`, s] as const))(
    '%s: ⟨Jᵀu, δ⟩ equals the central difference of ⟨u, M(x + hδ)⟩',
    async (_name, spec) => {
      const model = await smallCnn(),
        r = rng(4);
      const x = randomTensor([2, 2, 8, 8], r, 0, 1),
        u = randomTensor([2, 2, 8, 8], r).data,
        delta = randomTensor([2, 2, 8, 8], r).data;
      const p = prepareExplain(model, x, spec, [1, 3]);
      const seed = 17; // the same noise for the map and its derivative
      const G = (await gradientMean(model, p, x, seed)).attributions.data;
      const vjp = await explainVjp(model, p, x, seed, G, u);
      const h = 1e-3;
      const at = async (s: number) =>
        dot(
          u,
          (await explainMap(model, p, { shape: x.shape, data: x.data.map((v, i) => v + s * delta[i]) }, seed)).data,
        );
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      // float64 internally, results rounded to float32 (≈1e-7 relative) and divided by 2h: ≈1e-4 relative.
      expect(Math.abs(dot(vjp, delta) - fd)).toBeLessThan(2e-3 * Math.max(1e-3, Math.abs(fd)));
    },
  );

  it('the chain through the post-processing Σ_c|M| / Σ|M| is the derivative of that map', () => {
    const r = rng(6),
      B = 2,
      C = 2,
      hw = 12;
    const M = randomTensor([B, C, 3, 4], r),
      v = randomTensor([B, hw], r).data,
      delta = randomTensor([B, C, 3, 4], r).data;
    const P = attributionMap(M).data;
    const u = mapToRawCotangent(v, M.data, P, B, C, hw);
    const h = 1e-3;
    const L = (s: number) =>
      dot(v, attributionMap({ shape: M.shape, data: M.data.map((m, i) => m + s * delta[i]) }).data);
    expect(Math.abs(dot(u, delta) - (L(h) - L(-h)) / (2 * h))).toBeLessThan(1e-3);
  });
});

describe('attacks on explanations', () => {
  it('top-k: lowers the top-k intersection, keeps the label, stays in the ε-ball and the pixel range, returns the best iterate', async () => {
    const model = await smallCnn();
    const x = randomTensor([2, 2, 8, 8], rng(8), 0.2, 0.8);
    const eps = 0.05;
    const r = await attackExplanation(model, x, {
      attack: 'topk',
      explain: { method: 'saliency' },
      epsilon: eps,
      iterations: 12,
      k: 8,
      seed: 3,
    });
    expect(r.measure.name).toBe('topKIntersection');
    expect(r.measure.before).toEqual([1, 1]);
    r.measure.after.forEach((m) => expect(m).toBeLessThan(1));
    expect(r.labelPreserved).toEqual([true, true]);
    let worst = 0;
    r.adversarial.data.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - x.data[i]));
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    });
    expect(worst).toBeLessThanOrEqual(eps + 1e-6);
    // The reported map is the model's map at the returned input.
    const again = await attackExplanation(model, r.adversarial, {
      attack: 'topk',
      explain: { method: 'saliency' },
      epsilon: eps,
      iterations: 1,
      k: 8,
      seed: 3,
    });
    expect(relL2(again.originalMap.data, r.attackedMap.data)).toBeLessThan(1e-6);
  });

  it('centre of mass: moves the centre of the SmoothGrad map with fresh noise per iteration', async () => {
    const model = await smallCnn();
    const x = randomTensor([1, 2, 8, 8], rng(9), 0.2, 0.8);
    const r = await attackExplanation(model, x, {
      attack: 'centerOfMass',
      explain: { method: 'smoothGrad', sigma: 0.05, samples: 8 },
      epsilon: 0.05,
      iterations: 8,
      seed: 4,
    });
    expect(r.measure.before).toEqual([0]);
    expect(r.measure.after[0]).toBeGreaterThan(0.1);
    expect(r.labelPreserved).toEqual([true]);
  });

  it('targeted (Dombrowski): brings the map closer to the target map', async () => {
    const model = await smallCnn();
    const x = randomTensor([1, 2, 8, 8], rng(10), 0.2, 0.8);
    const targetMap = {
      shape: [8, 8],
      data: Float32Array.from({ length: 64 }, (_, i) => (Math.floor(i / 8) < 4 ? 1 : 0)),
    };
    const r = await attackExplanation(model, x, {
      attack: 'targeted',
      explain: { method: 'integratedGradients', steps: 8 },
      targetMap,
      epsilon: 0.1,
      iterations: 10,
      seed: 5,
    });
    expect(r.measure.after[0]).toBeLessThan(r.measure.before[0]);
  });

  it('on webgpu: top-k on the oracle LeNet strictly lowers the intersection of every example, keeping the label', async () => {
    // `after ≤ before` would hold for the clean input itself (iteration 0); only a strict drop shows the loop worked.
    const c = oracleCases().find((k) => k.name === 'lenet') ?? oracleCases()[0];
    const model = await loadModel(await webgpuEngine(), c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!;
    const r = await attackExplanation(model, x, {
      attack: 'topk',
      explain: { method: 'saliency' },
      epsilon: 0.03,
      iterations: 3,
      k: 78,
      seed: 1,
    });
    r.measure.after.forEach((m, b) => expect(m).toBeLessThan(r.measure.before[b]));
    r.bestIteration.forEach((it) => expect(it).toBeGreaterThan(0));
    expect(r.labelPreserved).toEqual([true, true]);
  });
});

describe.each(FLOAT32_BACKENDS)(
  'the map VJP on %s equals the float64 one (the tangent stream of the sampling engine)',
  (_backend, engine) => {
    // Same model, input, cotangent and seed on both backends: the noise is identical (Philox), so the only
    // difference is float32 rounding of the gradient and Hessian-vector products (≈1e-6 relative).
    const specs: ExplainSpec[] = [
      { method: 'saliency' },
      { method: 'saliency', absolute: true },
      { method: 'inputXGradient' },
      { method: 'smoothGrad', sigma: 0.1, samples: 6 },
      { method: 'uniformGradient', radius: 0.1, shape: 'cube', samples: 6 },
      { method: 'uniformGradient', radius: 0.3, shape: 'ball', samples: 6 },
      {
        method: 'integratedGradients',
        steps: 8,
        baseline: { shape: [2, 2, 8, 8], data: new Float32Array(256).fill(0.2) },
      },
    ];
    it.each(specs.map((s) => [`${s.method}${s.absolute ? ' |·|' : ''}${s.shape ? ` ${s.shape}` : ''}`, s] as const))(
      '%s: map and Jᵀu within 1e-4',
      async (_name, spec) => {
        const [mc, mg] = [await smallCnn(), await smallCnn(engine)];
        const r = rng(40);
        const x = randomTensor([2, 2, 8, 8], r, 0, 1),
          u = randomTensor([2, 2, 8, 8], r).data;
        const seed = 23;
        const run = async (m: Model) => {
          const p = prepareExplain(m, x, spec, [1, 3]);
          const G = (await gradientMean(m, p, x, seed)).attributions.data;
          return { G, vjp: await explainVjp(m, p, x, seed, G, u) };
        };
        const [c, g] = [await run(mc), await run(mg)];
        expect(relL2(g.G, c.G)).toBeLessThan(1e-4);
        expect(relL2(g.vjp, c.vjp)).toBeLessThan(1e-4);
      },
    );
  },
);

describe('attacks on predictions', () => {
  it('PGD (L∞ and L2) raises the loss, stays in the ball and the range; FGSM takes one ε step', async () => {
    const model = await smallCnn();
    const x = randomTensor([2, 2, 8, 8], rng(12), 0.1, 0.9);
    const logits = (await model.forward(x)).data;
    const labels = [0, 1].map((b) => {
      const row = Array.from(logits.slice(b * 4, b * 4 + 4));
      return row.indexOf(Math.max(...row));
    });
    const ce = async (t: Tensor) =>
      (await model.evaluate(t, { kind: 'crossEntropy', labels })).reduce((a, v) => a + v, 0);
    for (const norm of ['linf', 'l2'] as const) {
      const eps = norm === 'linf' ? 0.05 : 0.5;
      const r = await pgd(model, x, { labels, epsilon: eps, norm, iterations: 10, seed: 2 });
      expect(await ce(r.adversarial)).toBeGreaterThan(await ce(x));
      for (let b = 0; b < 2; b++) {
        const dlt = r.adversarial.data.slice(b * 128, (b + 1) * 128).map((v, i) => v - x.data[b * 128 + i]);
        const size = norm === 'linf' ? Math.max(...dlt.map(Math.abs)) : Math.hypot(...dlt);
        expect(size).toBeLessThanOrEqual(eps * (1 + 1e-6));
      }
      r.adversarial.data.forEach((v) => {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      });
    }
    const f = await fgsm(model, x, { labels, epsilon: 0.02 });
    const g = (await model.inputGradient(x, { kind: 'crossEntropy', labels })).data;
    f.adversarial.data.forEach((v, i) =>
      expect(v).toBeCloseTo(Math.min(1, Math.max(0, x.data[i] + 0.02 * Math.sign(g[i]))), 6),
    );
  });
});

describe('progress', () => {
  it('onIteration is called after every iteration, in order, with the total', async () => {
    const model = await smallCnn();
    const x = randomTensor([1, 2, 8, 8], rng(1), 0, 1);
    const calls: [number, number][] = [];
    await attackExplanation(model, x, {
      attack: 'topk',
      explain: { method: 'saliency' },
      epsilon: 0.1,
      iterations: 3,
      onIteration: (done, total) => calls.push([done, total]),
    });
    expect(calls).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
  });

  it('progress.best() follows the best iterate: the measure moves, and the last one is the returned result', async () => {
    const model = await smallCnn();
    const x = randomTensor([2, 2, 8, 8], rng(8), 0.2, 0.8);
    const seen: ExplanationAttackSnapshot[] = [];
    let awaited = 0;
    const r = await attackExplanation(model, x, {
      attack: 'topk',
      explain: { method: 'saliency' },
      epsilon: 0.05,
      iterations: 12,
      k: 8,
      seed: 3,
      onIteration: async (_done, _total, progress) => {
        seen.push(progress.best());
        await new Promise((resolve) => setTimeout(resolve, 1));
        awaited++; // the attack waits for the callback's promise before going on
        expect(awaited).toBe(seen.length);
      },
    });
    expect(seen).toHaveLength(12);
    // The measure changes over the run (the top-8 intersection drops from 1), never worsens (best so far),
    // and the snapshots are copies, not views of the attack's buffers.
    const distinct = new Set(seen.map((s) => s.measure.after.join()));
    expect(distinct.size).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < seen.length; i++)
      seen[i].measure.after.forEach((v, b) => expect(v).toBeLessThanOrEqual(seen[i - 1].measure.after[b]));
    expect(seen[0].adversarial.data).not.toBe(seen[1].adversarial.data);
    const last = seen[seen.length - 1];
    expect(last.measure).toEqual(r.measure);
    expect(last.bestIteration).toEqual(r.bestIteration);
    expect(Array.from(last.adversarial.data)).toEqual(Array.from(r.adversarial.data));
    expect(Array.from(last.attackedMap.data)).toEqual(Array.from(r.attackedMap.data));
    expect(Array.from(last.originalMap.data)).toEqual(Array.from(r.originalMap.data));
    // An intermediate snapshot's map is the model's map at its input (not the surrogate's, not a stale one).
    const mid = seen[5];
    const again = await attackExplanation(model, mid.adversarial, {
      attack: 'topk',
      explain: { method: 'saliency' },
      epsilon: 0.05,
      iterations: 1,
      k: 8,
      seed: 3,
    });
    expect(relL2(again.originalMap.data, mid.attackedMap.data)).toBeLessThan(1e-6);
  });
});

describe('bad options', () => {
  it.each([
    [{ attack: 'move' }, /attack must be 'topk' or 'centerOfMass' or 'targeted'/],
    [{ attack: 'topk', epsilon: 0 }, /epsilon must be a finite number > 0, got 0/],
    [{ attack: 'topk', epsilon: 0.1, norm: 'l1' }, /norm must be 'linf' or 'l2', got "l1"/],
    [{ attack: 'targeted', epsilon: 0.1 }, /'targeted' attack needs targetMap/],
    [{ attack: 'topk', epsilon: 0.1, k: 65 }, /k must be an integer in \[1, 64\], got 65/],
    [
      { attack: 'topk', epsilon: 0.1, explain: { method: 'lime' } },
      /explain.method must be 'saliency' or 'inputXGradient' or 'smoothGrad' or 'uniformGradient' or 'integratedGradients', got "lime"/,
    ],
    [
      { attack: 'topk', epsilon: 0.1, explain: { method: 'smoothGrad' } },
      /give exactly one of sigma \(in input units\) and relativeSigma/,
    ],
    [
      { attack: 'topk', epsilon: 0.1, explain: { method: 'uniformGradient', radius: -1 } },
      /radius must be a finite number > 0, got -1/,
    ],
    [{ attack: 'topk', epsilon: 0.1, onIteration: 3 }, /onIteration must be a function, got 3/],
  ])('%j', async (o, message) => {
    const model = await smallCnn();
    const x = randomTensor([1, 2, 8, 8], rng(1), 0, 1);
    const err = await attackExplanation(model, x, {
      explain: { method: 'saliency' },
      iterations: 1,
      ...o,
    } as never).catch((e) => e);
    expect(err).toBeInstanceOf(SmoothgeoError);
    expect(err.message).toMatch(message);
  });
});

describe('noise scales of the attacked method', () => {
  // The attribution methods reject a relative scale on a constant input (its range is 0, so σ would be 0);
  // the attacks resolve sigma/relativeSigma/radius/relativeRadius with the same function and reject it too.
  it.each([
    [
      'smoothGrad',
      { method: 'smoothGrad', relativeSigma: 0.1, samples: 2 },
      /relativeSigma: example 0 has a constant input \(range 0\), so a relative scale is 0; give sigma instead/,
    ],
    [
      'uniformGradient',
      { method: 'uniformGradient', relativeRadius: 0.1, samples: 2 },
      /relativeRadius: example 0 has a constant input \(range 0\), so a relative scale is 0; give radius instead/,
    ],
  ] as const)(
    '%s with a relative scale on a constant input is rejected as by the method itself',
    async (_name, explain, message) => {
      const model = await smallCnn();
      const x = { shape: [1, 2, 8, 8], data: new Float32Array(128).fill(0.5) };
      const err = await attackExplanation(model, x, {
        attack: 'topk',
        explain,
        epsilon: 0.05,
        iterations: 1,
        seed: 1,
      }).catch((e) => e);
      expect(err).toBeInstanceOf(SmoothgeoError);
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toMatch(message);
    },
  );
});

describe('ReLU models', () => {
  it('gradients come from the softplus surrogate by default; the effect is measured on the ReLU model', async () => {
    const r = rng(30);
    const spec = {
      input: [1, 6, 6],
      layers: [
        { type: 'conv2d', name: 'c', out: 2, kernel: 3 },
        { type: 'relu' },
        { type: 'flatten' },
        { type: 'dense', name: 'fc', out: 3 },
      ],
    };
    const w = {
      'c.weight': randomTensor([2, 1, 3, 3], r),
      'c.bias': randomTensor([2], r),
      'fc.weight': randomTensor([3, 32], r),
      'fc.bias': randomTensor([3], r),
    };
    const model = await loadModel(await cpuEngine(), spec, encodeSafetensors(w));
    const x = randomTensor([1, 1, 6, 6], rng(31), 0.2, 0.8);
    // On the ReLU model itself the saliency map's Jacobian is zero: no step would move the map.
    const o = {
      attack: 'topk' as const,
      explain: { method: 'saliency' as const },
      epsilon: 0.3,
      iterations: 20,
      k: 4,
      seed: 2,
    };
    const onRelu = await attackExplanation(model, x, { ...o, surrogate: model });
    expect(onRelu.bestIteration).toEqual([0]);
    const viaSurrogate = await attackExplanation(model, x, o);
    expect(viaSurrogate.measure.after[0]).toBeLessThan(1);
    expect(viaSurrogate.labelPreserved).toEqual([true]);
  });
});
