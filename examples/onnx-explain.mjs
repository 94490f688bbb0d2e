// Loads an ONNX model exported from PyTorch (torch.onnx.export), prints its prediction for one input and
// writes its SmoothGrad and Integrated Gradients maps as PNG files. Defaults to the small residual network
// with batch norm of the test fixtures and its first input.
// Usage: node scripts/gpu-env.mjs node examples/onnx-explain.mjs [--cpu] [--model path.onnx] [--samples 32]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  createEngine,
  heatmapPng,
  integratedGradients,
  loadOnnx,
  parseSafetensors,
  smoothGrad,
} from '../dist/smoothgeo.node.mjs';

const { values: args } = parseArgs({
  options: {
    cpu: { type: 'boolean', default: false },
    model: { type: 'string', default: new URL('../test/fixtures/onnx/resnet_small.onnx', import.meta.url).pathname },
    samples: { type: 'string', default: '32' },
  },
});
const engine = await createEngine({ backend: args.cpu ? 'cpu' : 'auto' });
console.log(`engine: ${engine.describe()}`);
const model = await loadOnnx(engine, readFileSync(args.model));
const [C, H, W] = model.inputShape;
console.log(
  `model: input [${model.inputShape}], ${model.classes} classes, ${Object.keys(model.parameters).length} parameter tensors`,
);

// The fixture's first input when it fits, else a smooth synthetic image in [0, 1].
const fixture = new URL('../test/fixtures/onnx/resnet_small.safetensors', import.meta.url);
const stored = parseSafetensors(readFileSync(fixture)).tensors.get('x');
const d = C * H * W;
const data =
  stored && stored.data.length >= d && stored.shape.slice(1).join() === model.inputShape.join()
    ? stored.data.slice(0, d)
    : Float32Array.from({ length: d }, (_, i) => 0.5 + 0.5 * Math.sin(i / 7));
const x = { shape: [1, C, H, W], data };

const logits = (await model.forward(x)).data;
const target = logits.indexOf(Math.max(...logits));
console.log(
  `prediction: class ${target} (logit ${logits[target].toFixed(4)}); logits ${Array.from(logits, (v) => v.toFixed(3)).join(' ')}`,
);

const sg = await smoothGrad(model, x, { target: [target], relativeSigma: 0.1, samples: Number(args.samples), seed: 1 });
const ig = await integratedGradients(model, x, { target: [target], steps: 32 });
// One map per pixel: the attribution summed over channels.
const perPixel = (t) =>
  Float32Array.from({ length: H * W }, (_, p) => {
    let s = 0;
    for (let c = 0; c < C; c++) s += t.data[c * H * W + p];
    return s;
  });
const out = new URL('../out/', import.meta.url);
mkdirSync(out, { recursive: true });
writeFileSync(
  new URL('onnx-smoothgrad.png', out),
  heatmapPng({ shape: [H, W], data: perPixel(sg.attributions) }, { palette: 'diverging' }),
);
writeFileSync(
  new URL('onnx-integrated-gradients.png', out),
  heatmapPng({ shape: [H, W], data: perPixel(ig.attributions) }, { palette: 'diverging' }),
);
console.log('wrote out/onnx-smoothgrad.png and out/onnx-integrated-gradients.png');
engine.dispose();
