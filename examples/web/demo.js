// The demo page: a test digit (or one drawn by hand) → the prediction and four attribution maps of the NAT or
// SSR LeNet, and a live top-k attack on the saliency map with its metrics. Everything runs in this page
// through the browser build of smoothgeo, on the backend that `auto` picks (a hardware WebGPU adapter, else
// wasm) or the one named by ?backend=. The heatmaps are drawn by a WebGPU render pipeline when the engine
// computes on WebGPU, else (wasm, cpu) on 2D canvases with the same colours and placement; the page says which.
import {
  attackExplanation,
  attributionMap,
  createEngine,
  createHeatmapRenderer,
  integratedGradients,
  kendallTau,
  loadModel,
  saliency,
  smoothGrad,
  topKIntersection,
  uniformGradient,
} from '/dist/smoothgeo.browser.mjs';

const $ = (id) => document.getElementById(id);
const SIZE = 28;
let engine, renderer, spec, digits;
const models = {};
let x = new Float32Array(SIZE * SIZE);
let busy = false;

function showError(e) {
  const el = $('error');
  el.hidden = false;
  el.textContent = `Error: ${e?.message ?? String(e)}`;
  document.body.dataset.error = '1';
}

function drawGrey(canvas, pixels) {
  const img = new ImageData(SIZE, SIZE);
  pixels.forEach((v, i) => img.data.set([v * 255, v * 255, v * 255, 255], i * 4));
  blit(canvas, img);
}

/** A map [1, 28, 28] or [28, 28] (non-negative: the 'hot' ramp of the library's PNG heatmaps). */
function drawMap(canvas, map) {
  return renderer.draw(canvas, map, { palette: 'sequential' });
}

/** A 28×28 image scaled up with nearest-neighbour pixels. */
function blit(canvas, img) {
  const small = new OffscreenCanvas(SIZE, SIZE);
  small.getContext('2d').putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

async function model(name) {
  models[name] ??= await loadModel(
    engine,
    spec,
    new Uint8Array(await (await fetch(`/examples/models/lenet-${name}.safetensors`)).arrayBuffer()),
  );
  return models[name];
}

async function explain() {
  if (busy) return;
  busy = true;
  try {
    const m = await model($('model').value);
    const input = { shape: [1, 1, SIZE, SIZE], data: x };
    drawGrey($('input'), x);
    const t0 = performance.now();
    const logits = Array.from((await m.forward(input)).data);
    const mx = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - mx));
    const predicted = logits.indexOf(mx);
    $('prediction').textContent =
      `predicted ${predicted} (p = ${(e[predicted] / e.reduce((a, v) => a + v, 0)).toFixed(3)})`;
    const target = [predicted];
    const t1 = performance.now();
    const maps = {
      saliency: await saliency(m, input, { target }),
      smoothgrad: await smoothGrad(m, input, { target, sigma: 0.15, samples: 32, seed: 1 }),
      uniform: await uniformGradient(m, input, { target, radius: 0.26, samples: 32, seed: 2 }),
      ig: await integratedGradients(m, input, { target, steps: 16 }),
    };
    const t2 = performance.now();
    for (const canvas of document.querySelectorAll('canvas.map'))
      await drawMap(canvas, attributionMap(maps[canvas.dataset.method].attributions));
    const t3 = performance.now();
    $('timings').textContent =
      `prediction ${(t1 - t0).toFixed(0)} ms; four explanations ${(t2 - t1).toFixed(0)} ms; drawing ${(t3 - t2).toFixed(0)} ms (first calls compile shaders)`;
    $('metrics').textContent = '';
    document.body.dataset.ready = '1';
  } finally {
    busy = false;
  }
}

/** The top-78 intersection and Kendall τ of an attacked saliency map against the clean one. */
function attackMetrics(before, after) {
  return `top-78 intersection ${topKIntersection(before, after, 78)[0].toFixed(3)}, Kendall τ ${kendallTau(before, after)[0].toFixed(3)}`;
}

/** A yield to the browser between iterations, so that it handles input while the attack runs. */
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));
/** A yield until the browser has painted a frame (the redrawn map and metrics are seen, not only set). */
const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

async function attack() {
  if (busy) return;
  busy = true;
  try {
    const m = await model($('model').value);
    const input = { shape: [1, 1, SIZE, SIZE], data: x };
    const saliencyCanvas = document.querySelector('canvas[data-method="saliency"]');
    const t0 = performance.now();
    let shown = -Infinity;
    // Live: the best label-preserving iterate so far, its map and metrics, redrawn every 2 iterations or
    // 200 ms (progress.best() copies the state; the metrics cost O((H·W)²) for Kendall τ, small at 28×28).
    const onIteration = async (i, n, progress) => {
      if (i % 2 === 0 || i === n || performance.now() - shown >= 200) {
        const p = progress.best();
        drawGrey($('input'), p.adversarial.data);
        await drawMap(saliencyCanvas, p.attackedMap);
        $('metrics').textContent =
          `top-k attack, iteration ${i} of ${n} (best so far, from iteration ${p.bestIteration[0]}): ${attackMetrics(p.originalMap, p.attackedMap)}`;
        shown = performance.now();
        return nextFrame();
      }
      return nextTask();
    };
    const r = await attackExplanation(m, input, {
      attack: 'topk',
      explain: { method: 'saliency' },
      epsilon: 0.1,
      iterations: 10,
      k: 78,
      seed: 1,
      onIteration,
    });
    drawGrey($('input'), r.adversarial.data);
    await drawMap(saliencyCanvas, r.attackedMap);
    $('metrics').textContent =
      `top-k attack on the saliency map (ε = 0.1, 10 steps): ${attackMetrics(r.originalMap, r.attackedMap)}, label ${r.labelPreserved[0] ? 'kept' : 'changed'}; ${(performance.now() - t0).toFixed(0)} ms`;
  } finally {
    busy = false;
  }
}

function pickDigit() {
  const d = digits[Number($('digit').value)];
  x = Float32Array.from(d.pixels, (v) => v / 255);
  return explain();
}

/** Drawing: a thick stroke in the 28×28 grid, explained when the pointer is lifted. */
function enableDrawing() {
  const canvas = $('input');
  let down = false;
  const paint = (ev) => {
    const r = canvas.getBoundingClientRect();
    const cx = ((ev.clientX - r.left) / r.width) * SIZE,
      cy = ((ev.clientY - r.top) / r.height) * SIZE;
    for (let y = 0; y < SIZE; y++)
      for (let xx = 0; xx < SIZE; xx++) {
        const d2 = (xx + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2;
        x[y * SIZE + xx] = Math.max(x[y * SIZE + xx], Math.min(1, Math.max(0, 1.6 - d2 / 1.5)));
      }
    drawGrey(canvas, x);
  };
  canvas.addEventListener('pointerdown', (ev) => ((down = true), paint(ev)));
  canvas.addEventListener('pointermove', (ev) => down && paint(ev));
  canvas.addEventListener('pointerup', () => ((down = false), explain().catch(showError)));
  $('clear').addEventListener('click', () => {
    x = new Float32Array(SIZE * SIZE);
    drawGrey(canvas, x);
  });
}

try {
  const params = new URLSearchParams(location.search);
  const backend = params.get('backend') ?? 'auto';
  // Another backend is another engine and models: the page reloads with ?backend=.
  $('backend-choice').value = backend;
  $('backend-choice').addEventListener('change', () => {
    params.set('backend', $('backend-choice').value);
    location.search = params.toString();
  });
  engine = await createEngine({ backend });
  const a = engine.adapter;
  $('backend').textContent =
    `${engine.describe()}${a ? `; adapter ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')}` : ''}`;
  document.body.dataset.backend = engine.backend;
  // Heatmaps on WebGPU when the maps are computed there; a page computing on wasm or cpu draws on 2D canvases.
  renderer =
    engine.backend === 'webgpu'
      ? await createHeatmapRenderer({ renderer: 'webgpu' })
      : await createHeatmapRenderer({ renderer: '2d' });
  $('renderer').textContent =
    renderer.kind === 'webgpu'
      ? 'heatmaps drawn by a WebGPU render pipeline (textured quad, colour map in the fragment shader)'
      : `heatmaps drawn on 2D canvases (the engine computes on ${engine.backend}, not WebGPU)`;
  document.body.dataset.renderer = renderer.kind;
  spec = await (await fetch('/examples/models/lenet-relu.json')).json();
  const res = await fetch('/digits.json');
  if (!res.ok) throw new Error(`/digits.json: ${await res.text()}`);
  digits = (await res.json()).digits;
  for (const d of digits) $('digit').add(new Option(`#${d.index} (label ${d.label})`, String(d.index)));
  $('digit').addEventListener('change', () => pickDigit().catch(showError));
  $('model').addEventListener('change', () => explain().catch(showError));
  $('attack').addEventListener('click', () => attack().catch(showError));
  enableDrawing();
  await pickDigit();
} catch (e) {
  showError(e);
}
