import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { loadModel } from '../src/graph/model.js';
import { smoothGrad } from '../src/attribution/methods.js';
// @ts-expect-error -- a plain ES module shared with bench/resnet18.mjs
import { randomWeights, resnet18Spec, weightShapes } from '../bench/resnet18-spec.mjs';
import { cpuEngine, FLOAT32_BACKENDS, randomTensor, relL2, rng, webgpuEngine } from './helpers.js';

/**
 * The full torchvision ResNet-18 (every layer and channel count, batch norm, padded max pooling, 20 residual
 * additions, downsampling shortcuts) at 32×32 instead of 224×224, so it runs in seconds on a software
 * adapter (the 224×224 run is bench/resnet18.mjs): webgpu against float64 for the logits, the input
 * gradient and the input HVP. 11 million parameters: float32 sums over K ≤ 4608 terms, so 1e-4 relative.
 */
describe('ResNet-18 (torchvision architecture) at 1×3×32×32', () => {
  const spec = resnet18Spec(32, 10);
  const file = encodeSafetensors(randomWeights(weightShapes(spec)));
  const r = rng(3);
  const x = randomTensor([1, 3, 32, 32], r, 0, 1),
    v = randomTensor([1, 3, 32, 32], r);
  const objective = { kind: 'crossEntropy' as const, labels: [3] };
  it.each(FLOAT32_BACKENDS)('%s matches float64: logits, input gradient, input HVP', async (_name, engine) => {
    const [cpu, gpu] = [await loadModel(await cpuEngine(), spec, file), await loadModel(await engine(), spec, file)];
    expect(Object.keys(gpu.parameters)).toHaveLength(62);
    expect(relL2((await gpu.forward(x)).data, (await cpu.forward(x)).data)).toBeLessThan(1e-4);
    expect(
      relL2((await gpu.inputGradient(x, objective)).data, (await cpu.inputGradient(x, objective)).data),
    ).toBeLessThan(1e-4);
    expect(relL2((await gpu.inputHvp(x, v, objective)).data, (await cpu.inputHvp(x, v, objective)).data)).toBeLessThan(
      1e-4,
    );
  });
});

describe('SmoothGrad on ResNet-18 runs in chunks within its maxBytes budget (webgpu peak memory)', () => {
  it('the peak above the weights stays within maxBytes, uses most of it, and chunking changes nothing', async () => {
    const spec = resnet18Spec(32, 10);
    const engine = await webgpuEngine();
    const model = await loadModel(engine, spec, encodeSafetensors(randomWeights(weightShapes(spec))));
    const x = randomTensor([1, 3, 32, 32], rng(5), 0, 1);
    const o = { target: [2], sigma: 0.1, samples: 16, seed: 9 };
    await model.forward(x); // weights on the device
    const maxBytes = 4 * 2 ** 20;
    engine.trim();
    engine.resetPeakMemory();
    const before = engine.memory()!;
    const chunked = await smoothGrad(model, x, { ...o, maxBytes });
    const after = engine.memory()!;
    // The budget covers the pool's buffers; the uniform arena (at most 128 KiB) is reported apart.
    const peak = after.peakBytes - before.allocatedBytes - (after.uniformBytes - before.uniformBytes);
    expect(chunked.chunks).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(maxBytes);
    // Sized by the graph's liveness, not a blanket multiple of its activations: most of the budget is used.
    expect(peak).toBeGreaterThan(maxBytes / 2);
    const whole = await smoothGrad(model, x, { ...o, batchSize: 16 });
    expect(whole.chunks).toBe(1);
    expect(relL2(chunked.attributions.data, whole.attributions.data)).toBeLessThan(1e-6);
  });
});
