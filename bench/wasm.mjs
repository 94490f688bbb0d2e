// WebAssembly benchmark: smoothgeo's wasm backend against TensorFlow.js's wasm backend (@tensorflow/tfjs-backend-wasm
// 4.22, its SIMD build; tfjs turns threads off in Node), in one Node process, on the oracle LeNet and MLP.
//
//   npm run bench:wasm     (= node build.mjs && node bench/wasm.mjs)
//
// 1. The in-process wasm SIMD128 peak (bench/wasm-peak: 12 independent mul+add chains).
// 2. Kernel GFLOP/s of the wasm backend (Backend.matmul and the three conv passes, packing and im2col
//    included) as a percentage of that peak: a 256³ GEMM and LeNet's convolutions at 50 rows (SmoothGrad-50, B = 1).
// 3. Per model: forward, input gradient, input HVP, SmoothGrad-50 at B = 1 and B = 16: median ms per call
//    (every call uploads x and reads its result back) for both libraries, and the ratio tfjs/smoothgeo (above 1:
//    smoothgeo faster), both single-threaded (threaded rows are not here yet: with a threaded engine in this
//    process a worker stopped answering; see src/backend/wasm/threads.ts). tfjs's HVP is reverse-over-reverse
//    tf.grad; it fails through max pooling ("gradient function not found for MaxPoolGrad"), printed as is.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importSmoothgeo, timeIt } from './harness.mjs';
import { loadOracleCase, makeTfjsPeer } from './peers.mjs';
import { measurePeak } from './wasm-peak/index.mjs';

const { createEngine, loadModel, smoothGrad } = await importSmoothgeo();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const fmt = (v, d = 2) => (typeof v === 'number' ? v.toFixed(d) : v);

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 31 - 1;
  };
}
/** Batch B from the oracle's two examples, copies past the first two perturbed by ±0.02 (as bench/run.mjs). */
function makeBatch(c, B) {
  const x = c.tensors.get('x'),
    v = c.tensors.get('v');
  const b0 = x.shape[0],
    per = x.data.length / b0;
  const xs = new Float32Array(B * per),
    vs = new Float32Array(B * per),
    target = [];
  const r = rng(0x5eed + B);
  for (let i = 0; i < B; i++) {
    const src = i % b0,
      off = src * per;
    target.push(c.target[src]);
    for (let j = 0; j < per; j++) {
      let xv = x.data[off + j],
        vv = v.data[off + j];
      if (i >= b0) {
        xv = Math.min(1, Math.max(0, xv + 0.02 * r()));
        vv *= 1 + 0.1 * r();
      }
      xs[i * per + j] = xv;
      vs[i * per + j] = vv;
    }
  }
  const shape = [B, ...x.shape.slice(1)];
  return { x: { shape, data: xs }, v: { shape, data: vs }, target };
}

const peak = await measurePeak();
console.log(`wasm SIMD128 peak in this process: ${fmt(peak, 1)} GFLOP/s (bench/wasm-peak)\n`);

// ---- kernels ----
const engine = await createEngine({ backend: 'wasm', threads: 1 });
console.log(engine.describe());
const be = await engine.backendForCall();
const r = rng(7);
const rand = (n) => Float32Array.from({ length: n }, () => r());
/** Best-of timing of a synchronous backend call (the wasm backend runs each primitive synchronously). */
function rate(flop, fn) {
  for (let i = 0; i < 3; i++) be.release(fn());
  let best = Infinity;
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    const out = fn();
    best = Math.min(best, performance.now() - t0);
    be.release(out);
  }
  return { ms: best, gflops: flop / (best * 1e6) };
}
const rows = [];
{
  const n = 256,
    A = be.upload(rand(n * n), [n, n], 'A'),
    B = be.upload(rand(n * n), [n, n], 'B');
  rows.push(['GEMM 256×256×256', rate(2 * n ** 3, () => be.matmul(A, B, { label: 'bench' }))]);
  rows.push(['GEMM 256×256×256, Bᵀ', rate(2 * n ** 3, () => be.matmul(A, B, { label: 'bench', transB: true }))]);
  be.release(A, B);
}
for (const [name, g] of /** @type {[string, any][]} */ ([
  [
    'LeNet conv1 (50×1×28×28 → 6, 5×5)',
    {
      n: 50,
      c: 1,
      h: 28,
      w: 28,
      o: 6,
      kh: 5,
      kw: 5,
      sh: 1,
      sw: 1,
      ph: 0,
      pw: 0,
      dh: 1,
      dw: 1,
      groups: 1,
      oh: 24,
      ow: 24,
    },
  ],
  [
    'LeNet conv2 (50×6×12×12 → 12, 5×5)',
    {
      n: 50,
      c: 6,
      h: 12,
      w: 12,
      o: 12,
      kh: 5,
      kw: 5,
      sh: 1,
      sw: 1,
      ph: 0,
      pw: 0,
      dh: 1,
      dw: 1,
      groups: 1,
      oh: 8,
      ow: 8,
    },
  ],
])) {
  const flop = 2 * g.n * g.o * g.oh * g.ow * g.c * g.kh * g.kw;
  const x = be.upload(rand(g.n * g.c * g.h * g.w), [g.n, g.c, g.h, g.w], 'x'),
    w = be.upload(rand(g.o * g.c * g.kh * g.kw), [g.o, g.c, g.kh, g.kw], 'w');
  const gy = be.upload(rand(g.n * g.o * g.oh * g.ow), [g.n, g.o, g.oh, g.ow], 'gy');
  rows.push([`${name} forward`, rate(flop, () => be.conv2d(x, w, null, g))]);
  rows.push([`${name} backward input`, rate(flop, () => be.conv2dBackwardInput(gy, w, g))]);
  rows.push([`${name} backward filter`, rate(flop, () => be.conv2dBackwardFilter(gy, x, g))]);
  be.release(x, w, gy);
}
console.log('\n| kernel (wasm backend, 1 thread) | ms | GFLOP/s | % of peak |\n|---|---|---|---|');
for (const [name, { ms, gflops }] of rows)
  console.log(`| ${name} | ${fmt(ms, 3)} | ${fmt(gflops, 1)} | ${fmt((100 * gflops) / peak, 0)}% |`);

// ---- models ----
const SG = 50;
console.log(`\n| model | call | smoothgeo wasm ms | tfjs-wasm ms | tfjs / smoothgeo |\n|---|---|---|---|---|`);
let tfPeer = null;
for (const name of ['lenet', 'mlp']) {
  const c = await loadOracleCase(name, join(ROOT, 'test', 'fixtures', 'oracle'));
  const { readFile } = await import('node:fs/promises');
  const bytes = new Uint8Array(await readFile(join(ROOT, 'test', 'fixtures', 'oracle', `${name}.safetensors`)));
  const model = await loadModel(engine, c.model, bytes, { prefix: 'param.' });
  tfPeer?.dispose();
  tfPeer = await makeTfjsPeer(c.model, c.weights, { backend: 'wasm' });
  const b1 = makeBatch(c, 1),
    b2 = makeBatch(c, 2),
    b16 = makeBatch(c, 16);
  const obj = (b) => ({ kind: 'logit', target: b.target });
  /** @type {[string, () => Promise<unknown>, () => Promise<unknown>][]} */
  const calls = [
    ['forward B=2', () => model.forward(b2.x), () => tfPeer.forward(b2.x)],
    ['input gradient B=2', () => model.inputGradient(b2.x, obj(b2)), () => tfPeer.inputGradient(b2.x, b2.target)],
    ['input HVP B=2', () => model.inputHvp(b2.x, b2.v, obj(b2)), () => tfPeer.inputHvp(b2.x, b2.v, b2.target)],
    [
      `SmoothGrad-${SG} B=1`,
      () => smoothGrad(model, b1.x, { target: b1.target, sigma: 0.15, samples: SG, seed: 1 }),
      () => tfPeer.smoothGrad(b1.x, b1.target, 0.15, SG, { seed: 1 }),
    ],
    [
      `SmoothGrad-${SG} B=16`,
      () => smoothGrad(model, b16.x, { target: b16.target, sigma: 0.15, samples: SG, seed: 1 }),
      () => tfPeer.smoothGrad(b16.x, b16.target, 0.15, SG, { seed: 1 }),
    ],
  ];
  for (const [call, ours, theirs] of calls) {
    const a = await timeIt(ours);
    let b;
    try {
      b = await timeIt(theirs);
    } catch (e) {
      b = `fails: ${String(e.message).split('\n')[0].slice(0, 80)}`;
    }
    console.log(
      `| ${name} | ${call} | ${fmt(a)} | ${fmt(b)} | ${typeof b === 'number' ? `${fmt(b / a, 1)}×` : 'n/a'} |`,
    );
  }
}
tfPeer?.dispose();
engine.dispose();
