import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { loadModel } from '../src/graph/model.js';
// @ts-expect-error -- a plain ES module shared with bench/resnet18.mjs
import { randomWeights, resnet18Spec, weightShapes } from '../bench/resnet18-spec.mjs';
import { cpuEngine, FLOAT32_BACKENDS, randomTensor, relL2, rng } from './helpers.js';

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
