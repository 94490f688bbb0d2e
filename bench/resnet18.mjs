// ResNet-18 (torchvision's architecture and parameter names: conv1, bn1, layer1.0.conv1, …, fc) at
// 1×3×224×224 with random weights: forward, input gradient, input HVP and SmoothGrad with 16 samples, on the
// default engine, SmoothGrad within a 256 MiB activation budget (maxBytes). Prints each call's time (one
// warm-up call first; the median of --repeats) and the engine's peak GPU memory (engine.memory().peakBytes
// after resetPeakMemory(): buffers its pool holds, weights included) per call.
//   node build.mjs && node scripts/gpu-env.mjs node bench/resnet18.mjs [--cpu] [--repeats 1] [--size 224]
import { parseArgs } from 'node:util';
import { createEngine, encodeSafetensors, loadModel, smoothGrad } from '../dist/smoothgeo.node.mjs';

const { values: args } = parseArgs({ options: {
  cpu: { type: 'boolean', default: false }, repeats: { type: 'string', default: '1' }, size: { type: 'string', default: '224' },
} });
const S = Number(args.size);

/** The torchvision ResNet-18 as a smoothgeo spec (batch norm kept, 1000 classes). */
function resnet18Spec(size = 224, classes = 1000) {
  const layers = [
    { type: 'conv2d', name: 'conv1', out: 64, kernel: 7, stride: 2, padding: 3, bias: false },
    { type: 'batchnorm2d', name: 'bn1' }, { type: 'relu' },
    { type: 'maxpool2d', kernel: 3, stride: 2, padding: 1, id: 'stem' },
  ];
  let prev = 'stem', inC = 64;
  for (const [stage, out] of [[1, 64], [2, 128], [3, 256], [4, 512]]) {
    for (const block of [0, 1]) {
      const p = `layer${stage}.${block}`, stride = stage > 1 && block === 0 ? 2 : 1;
      layers.push(
        { type: 'conv2d', name: `${p}.conv1`, out, kernel: 3, stride, padding: 1, bias: false, inputs: [prev] },
        { type: 'batchnorm2d', name: `${p}.bn1` }, { type: 'relu' },
        { type: 'conv2d', name: `${p}.conv2`, out, kernel: 3, padding: 1, bias: false },
        { type: 'batchnorm2d', name: `${p}.bn2`, id: `${p}.main` },
      );
      let shortcut = prev;
      if (stride !== 1 || inC !== out) {
        layers.push(
          { type: 'conv2d', name: `${p}.downsample.0`, out, kernel: 1, stride, bias: false, inputs: [prev] },
          { type: 'batchnorm2d', name: `${p}.downsample.1`, id: `${p}.short` },
        );
        shortcut = `${p}.short`;
      }
      layers.push({ type: 'add', inputs: [`${p}.main`, shortcut] }, { type: 'relu', id: `${p}.out` });
      prev = `${p}.out`; inC = out;
    }
  }
  layers.push({ type: 'globalavgpool2d' }, { type: 'flatten' }, { type: 'dense', name: 'fc', out: classes });
  return { input: [3, size, size], layers };
}

/** Deterministic random weights of the right shapes (He-scaled, so activations stay O(1)); variances positive. */
function randomWeights(params) {
  let a = 12345;
  const rnd = () => { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; return a / 2 ** 32 - 0.5; };
  const out = {};
  for (const [name, shape] of Object.entries(params)) {
    const n = shape.reduce((p, d) => p * d, 1), fanIn = shape.length > 1 ? n / shape[0] : 1;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (name.endsWith('running_var')) data[i] = 1 + 0.2 * rnd();
      else if (name.endsWith('running_mean') || name.endsWith('.bias')) data[i] = 0.1 * rnd();
      else if (shape.length === 1) data[i] = 1 + 0.2 * rnd();
      else data[i] = rnd() * Math.sqrt(24 / fanIn);
    }
    out[name] = { shape, data };
  }
  return out;
}

/** Every weight's shape (parameters and batch-norm buffers, PyTorch layouts), read off the spec. */
function weightShapes(spec) {
  const shapes = {};
  let c = spec.input[0];
  const channels = new Map([['input', c]]);
  spec.layers.forEach((l, i) => {
    if (l.inputs) c = channels.get(l.inputs[0]);
    if (l.type === 'conv2d') { shapes[`${l.name}.weight`] = [l.out, c, l.kernel, l.kernel]; c = l.out; }
    if (l.type === 'batchnorm2d') for (const k of ['weight', 'bias', 'running_mean', 'running_var']) shapes[`${l.name}.${k}`] = [c];
    if (l.type === 'dense') { shapes[`${l.name}.weight`] = [l.out, c]; shapes[`${l.name}.bias`] = [l.out]; c = l.out; }
    if (l.id) channels.set(l.id, c);
    void i;
  });
  return shapes;
}

const engine = await createEngine({ backend: args.cpu ? 'cpu' : 'auto' });
console.log(`engine: ${engine.describe()}`);
const spec = resnet18Spec(S);
const model = await loadModel(engine, spec, encodeSafetensors(randomWeights(weightShapes(spec))));
const r = (() => { let a = 7; return () => { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; return a / 2 ** 32; }; })();
const d = 3 * S * S;
const x = { shape: [1, 3, S, S], data: Float32Array.from({ length: d }, r) };
const v = { shape: [1, 3, S, S], data: Float32Array.from({ length: d }, () => r() - 0.5) };
const target = [0];
const objective = { kind: 'logit', target };
const MAX_BYTES = 256 * 1024 * 1024;

const rows = [];
async function time(name, fn) {
  await fn(); // warm-up: pipelines compiled, buffers pooled
  const ts = [];
  engine.memory() && engine.resetPeakMemory();
  for (let i = 0; i < Number(args.repeats); i++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  ts.sort((p, q) => p - q);
  const mem = engine.memory();
  rows.push({ name, seconds: ts[Math.floor(ts.length / 2)], peakMiB: mem ? mem.peakBytes / 2 ** 20 : null });
  console.log(`${name.padEnd(28)} ${rows.at(-1).seconds.toFixed(2).padStart(8)} s   peak ${mem ? `${rows.at(-1).peakMiB.toFixed(1)} MiB` : 'n/a (cpu)'}`);
}
console.log(`ResNet-18, 1×3×${S}×${S}, ${Object.keys(model.parameters).length} parameter tensors`);
await time('forward', () => model.forward(x));
await time('input gradient (logit)', () => model.inputGradient(x, objective));
await time('input HVP (logit)', () => model.inputHvp(x, v, objective));
await time('SmoothGrad, 16 samples', () => smoothGrad(model, x, { target, sigma: 0.1, samples: 16, seed: 1, maxBytes: MAX_BYTES }));
engine.dispose();
