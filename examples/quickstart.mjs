// The main job end to end: load the LeNet trained naturally (NAT) on real MNIST digits that ships in
// examples/models (see its README for the command, seed and accuracy), explain real test digits it has never
// seen — prediction, saliency, SmoothGrad and Uniform Gradient maps as PNGs beside the digit — and print the
// curvature along the gradient. Run with `npm start` (builds first, and finds a WebGPU adapter).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import {
  attributionMap,
  createEngine,
  heatmapPng,
  loadMnist,
  loadModel,
  saliency,
  smoothGrad,
  ssrCurvature,
  subset,
  uniformGradient,
} from '../dist/smoothgeo.node.mjs';

const here = new URL('.', import.meta.url);
const backend = process.argv.includes('--cpu') ? 'cpu' : 'auto';
const engine = await createEngine({ backend });
console.log(`engine: ${engine.describe()}`);

const spec = JSON.parse(readFileSync(new URL('models/lenet-relu.json', here), 'utf8'));
const model = await loadModel(engine, spec, readFileSync(new URL('models/lenet-nat.safetensors', here)));
const record = JSON.parse(readFileSync(new URL('models/lenet-nat.json', here), 'utf8'));
console.log(
  `model: LeNet (ReLU), natural training, ${(record.testAccuracy * 100).toFixed(2)}% on the 2,000 test digits of split seed ${record.seed}`,
);

// The test digits of the split the model was trained on (never seen in training): one of each of four classes.
const { test } = await loadMnist({ seed: record.seed });
const rows = [0, 1, 2, 3].map((c) => test.labels.indexOf(c));
const { x, labels } = subset(test, rows);
const B = rows.length,
  d = 28 * 28;

const t0 = performance.now();
const logits = await model.forward(x);
const predicted = [];
for (let b = 0; b < B; b++) {
  const z = Array.from(logits.data.subarray(b * 10, b * 10 + 10));
  const mx = Math.max(...z),
    e = z.map((v) => Math.exp(v - mx)),
    s = e.reduce((a, v) => a + v, 0);
  predicted.push(z.indexOf(mx));
  console.log(
    `digit ${b} (label ${labels[b]}): predicted ${predicted[b]} with probability ${(e[predicted[b]] / s).toFixed(4)}`,
  );
}
const target = predicted;
const sal = await saliency(model, x, { target });
const sg = await smoothGrad(model, x, { target, sigma: 0.15, samples: 32, seed: 1 });
const ug = await uniformGradient(model, x, { target, radius: 0.26, shape: 'cube', samples: 32, seed: 2 });
const t1 = performance.now();

// Curvature: a ReLU network's own input Hessian is zero almost everywhere, so we measure the Gauss–Newton
// input Hessian G of the cross-entropy (the curvature SSR penalises): gᵀGg/gᵀg along the saliency direction,
// and its top eigenvalue λ_max.
const ce = { kind: 'crossEntropy', labels: predicted };
const gce = await model.inputGradient(x, ce);
const Gg = await model.gaussNewtonProduct(x, gce, predicted);
const lam = await ssrCurvature(model, x, { labels: predicted, seed: 1 });
const t2 = performance.now();

const out = new URL('../out/', here);
mkdirSync(out, { recursive: true });
const maps = {
  saliency: attributionMap(sal.attributions),
  smoothgrad: attributionMap(sg.attributions),
  uniform: attributionMap(ug.attributions),
};
for (let b = 0; b < B; b++) {
  const g = gce.data.subarray(b * d, (b + 1) * d),
    hg = Gg.data.subarray(b * d, (b + 1) * d);
  let gg = 0,
    ghg = 0;
  for (let i = 0; i < d; i++) {
    gg += g[i] * g[i];
    ghg += g[i] * hg[i];
  }
  console.log(
    `digit ${b}: curvature along the cross-entropy gradient gᵀGg/gᵀg = ${(ghg / gg).toExponential(3)}, λ_max(G) = ${lam.lambdaMax[b].toExponential(3)}`,
  );
  writeFileSync(
    new URL(`digit-${b}.png`, out),
    heatmapPng({ shape: [28, 28], data: x.data.subarray(b * d, (b + 1) * d) }, { palette: 'sequential' }),
  );
  for (const [name, m] of Object.entries(maps)) {
    writeFileSync(
      new URL(`digit-${b}-${name}.png`, out),
      heatmapPng({ shape: [28, 28], data: m.data.subarray(b * d, (b + 1) * d) }, { palette: 'sequential' }),
    );
  }
}
console.log(`wrote out/digit-{0..${B - 1}}.png and, beside each, its -saliency, -smoothgrad and -uniform maps`);
console.log(
  `times (on webgpu the first calls include shader compilation): prediction and three explanations ${(t1 - t0).toFixed(0)} ms, curvature ${(t2 - t1).toFixed(0)} ms`,
);
engine.dispose();
