// The main job end to end: load the example LeNet (softplus, max- and avg-pooling; random untrained
// weights from the PyTorch oracle, see examples/models/README.md) that ships in
// examples/models, print its logits, compute input-gradient maps and input Hessian-vector products,
// and write the maps as PNG files. Run with `npm start` (builds first, and finds a WebGPU adapter).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createEngine, heatmapPng, loadModel, parseSafetensors } from '../dist/smoothgeo.node.mjs';

const here = new URL('.', import.meta.url);
const backend = process.argv.includes('--cpu') ? 'cpu' : 'auto';
const engine = await createEngine({ backend });
console.log(`engine: ${engine.describe()}`);

const spec = JSON.parse(readFileSync(new URL('models/lenet.json', here), 'utf8'));
const bytes = readFileSync(new URL('models/lenet.safetensors', here));
const model = await loadModel(engine, spec, bytes, { prefix: 'param.' });
const x = parseSafetensors(bytes).tensors.get('input.x');
const B = x.shape[0];
console.log(`model: input [${model.inputShape}], ${model.classes} classes, parameters ${JSON.stringify(model.parameters)}`);

const t0 = performance.now();
const logits = await model.forward(x);
const t1 = performance.now();
const predicted = [];
for (let b = 0; b < B; b++) {
  const row = Array.from(logits.data.subarray(b * 10, b * 10 + 10));
  predicted.push(row.indexOf(Math.max(...row)));
  console.log(`example ${b}: logits [${row.map((v) => v.toFixed(3)).join(', ')}] → class ${predicted[b]}`);
}

const objective = { kind: 'logit', target: predicted };
const grad = await model.inputGradient(x, objective);
const t2 = performance.now();
// A Hessian-vector product along the gradient itself: its Rayleigh quotient vᵀHv/vᵀv is the curvature
// of the predicted logit along the direction the saliency map points.
const hvp = await model.inputHvp(x, grad, objective);
const t3 = performance.now();

const out = new URL('../out/', here);
mkdirSync(out, { recursive: true });
const d = 28 * 28;
for (let b = 0; b < B; b++) {
  const g = grad.data.subarray(b * d, (b + 1) * d), hv = hvp.data.subarray(b * d, (b + 1) * d);
  let gg = 0, ghg = 0, gmax = 0;
  for (let i = 0; i < d; i++) { gg += g[i] * g[i]; ghg += g[i] * hv[i]; gmax = Math.max(gmax, Math.abs(g[i])); }
  console.log(`example ${b}: |∇ logit| = ${Math.sqrt(gg).toFixed(4)}, max |∂/∂pixel| = ${gmax.toFixed(4)}, curvature along ∇ (gᵀHg/gᵀg) = ${(ghg / gg).toFixed(5)}`);
  writeFileSync(new URL(`gradient-${b}.png`, out), heatmapPng({ shape: [28, 28], data: g }));
  writeFileSync(new URL(`input-${b}.png`, out), heatmapPng({ shape: [28, 28], data: x.data.subarray(b * d, (b + 1) * d) }, { palette: 'sequential' }));
}
console.log(`wrote out/input-{0,1}.png and out/gradient-{0,1}.png`);
console.log(`times (first call includes shader compilation): forward ${(t1 - t0).toFixed(1)} ms, gradient ${(t2 - t1).toFixed(1)} ms, HVP ${(t3 - t2).toFixed(1)} ms`);
engine.dispose();
