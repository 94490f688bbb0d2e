// Benchmark: smoothgeo against TensorFlow.js (webgpu backend) and jax-js (webgpu device), in one Node process
// on one WebGPU adapter (the GPU object that installNodeWebGPU() puts at navigator.gpu serves all three;
// each library opens its own device on it).
//
//   npm run bench [-- --quick] [-- --json out/bench.json]
//   (= node build.mjs && node scripts/gpu-env.mjs node bench/run.mjs [--quick] [--json FILE])
//
// 1. The adapter in use, with a warning when it is a software one.
// 2. The oracle LeNet and MLP at batch 1 and 32: median wall time per call of forward, input gradient and
//    input HVP (objective: the target logit) for each library, the HVP/gradient ratio, "peer time / smoothgeo
//    time" (above 1: smoothgeo is faster), and each peer's relative L2 difference from our result. Every
//    timed call uploads its inputs and reads its result back; warmup calls (shader compilation) are untimed.
// 3. GEMM throughput (2·n³ flops per n×n·n×n product): our tiled GEMM (Backend.matmul, via bench/kernels.ts
//    bundled on the fly), tf.matMul and jax-js np.matmul; R products recorded back to back, one readback.
//
// Options: --quick (fewer repeats, batch 1 only, GEMM 256 only), --json FILE (also write every number).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  installNodeWebGPU, releaseNodeWebGPU, loadOracleCase, makeTfjsPeer, makeJaxPeer, relL2, timeIt, ORACLE_DIR,
} from './peers.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');

// ---- options ----
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonAt = args.indexOf('--json');
const jsonPath = jsonAt >= 0 ? args[jsonAt + 1] : null;
if (jsonAt >= 0 && (!jsonPath || jsonPath.startsWith('--'))) usage('--json needs a file name');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--quick') continue;
  if (args[i] === '--json') { i++; continue; }
  usage(`unknown argument ${args[i]}`);
}
function usage(msg) {
  console.error(`bench/run.mjs: ${msg}\nusage: node bench/run.mjs [--quick] [--json FILE]`);
  process.exit(2);
}

const CASES = ['lenet', 'mlp'];
const BATCHES = quick ? [1] : [1, 32];
const GEMM_SIZES = quick ? [256] : [256, 512, 1024];
/** timeIt settings for the model calls. */
const TIMING = quick ? { warmup: 1, minRuns: 3, minMs: 200, maxRuns: 50 } : { warmup: 2, minRuns: 5, minMs: 1000, maxRuns: 200 };
/** jax-js leaks GPU buffers in every HVP call (see peers.mjs): fewer runs there. */
const JAX_HVP_MAX_RUNS = quick ? 10 : 40;
/** GEMM: R is picked so one timed batch of R products takes about this long (on our GEMM); repeats of it. */
const GEMM_TARGET_MS = quick ? 300 : 1000;
const GEMM_MAX_R = 64;
const GEMM_REPEATS = quick ? 3 : 5;
const GEMM_BUDGET_MS = quick ? 3000 : 10000;

const command = `node bench/run.mjs${args.length ? ' ' + args.join(' ') : ''}`;
const npmCommand = `npm run bench${args.length ? ' -- ' + args.join(' ') : ''}`;
const t0 = performance.now();
const log = (...a) => console.log(...a);
const fmtMs = (ms) => (ms == null ? '-' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const fmtRatio = (r) => (r == null || !Number.isFinite(r) ? '-' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`);
const TOL = 1e-4; // the oracle README's tolerance (relative L2) for float32 logits, gradients and HVPs
const fmtErr = (e) => (e == null ? '-' : e.toExponential(1) + (e > TOL ? '!' : ''));
const errText = (e) => `${e?.constructor?.name ?? 'Error'}: ${String(e?.message ?? e).split('\n')[0]}`;
const version = (pkg) => {
  try { return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version; } catch { return '?'; }
};

// Bail out if something keeps the event loop alive at the end (Dawn can); normal exit happens first.
// The exit status is 1 when a smoothgeo call failed or disagreed with the oracle or a peer beyond TOL.
let exitCode = 0;
const finish = () => { process.exitCode = exitCode; setTimeout(() => process.exit(exitCode), 3000).unref(); };

// ---- build bench/kernels.ts against the sources (our GEMM is internal) ----
const kernelsOut = join(ROOT, 'dist', 'bench-kernels.mjs');
await build({
  entryPoints: [join(HERE, 'kernels.ts')], bundle: true, platform: 'node', format: 'esm', target: 'es2022',
  loader: { '.wgsl': 'text' }, external: ['webgpu'], outfile: kernelsOut, logLevel: 'warning',
});
const kernels = await import(pathToFileURL(kernelsOut).href);

// ---- one GPU for all three ----
const peerAdapter = await installNodeWebGPU();
const gpu = /** @type {any} */ (globalThis).navigator.gpu;
const { createEngine, loadModel, attackExplanation } = await import(pathToFileURL(join(ROOT, 'dist', 'smoothgeo.node.mjs')).href);
const engine = await createEngine({ backend: 'webgpu', gpu, powerPreference: 'high-performance' });
const tf = await import('@tensorflow/tfjs'); // only now: tfjs-backend-webgpu registers itself if navigator.gpu exists
const jax = await import('@jax-js/jax');

log(`smoothgeo bench (${quick ? 'quick' : 'full'}) — node ${process.versions.node}, tfjs ${version('@tensorflow/tfjs')}, ` +
  `tfjs-backend-webgpu ${version('@tensorflow/tfjs-backend-webgpu')}, jax-js ${version('@jax-js/jax')}`);
log(`adapter: ${engine.describe()}`);
const same = [peerAdapter.vendor, peerAdapter.architecture, peerAdapter.description].join('/') ===
  [engine.adapter.vendor, engine.adapter.architecture, engine.adapter.description].join('/');
log(`peers' adapter (navigator.gpu, same GPU object): ${peerAdapter.vendor} / ${peerAdapter.architecture} / ${peerAdapter.description}` +
  (same ? '' : '  <-- DIFFERENT from ours'));
if (engine.adapter.software) {
  log('WARNING: this is a software (CPU) WebGPU adapter: the numbers below say little about real GPUs.');
}

const results = {
  command, npmCommand, quick, date: new Date().toISOString(), node: process.versions.node,
  versions: { tfjs: version('@tensorflow/tfjs'), tfjsWebgpu: version('@tensorflow/tfjs-backend-webgpu'), jaxjs: version('@jax-js/jax') },
  adapter: engine.adapter, describe: engine.describe(), peerAdapter,
  timing: { ...TIMING, jaxHvpMaxRuns: JAX_HVP_MAX_RUNS, unit: 'median ms per call, upload and readback included' },
  models: /** @type {any[]} */ ([]),
  gemm: /** @type {any[]} */ ([]),
};

// ---- deterministic batch-32 inputs ----
/** xorshift32 in [-1, 1). */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 31 - 1; };
}
/**
 * Batch B from the oracle's examples: example i is oracle example i mod b0 (the oracle has b0 = 2), and
 * every tiled copy past the first b0 gets a small deterministic perturbation (x: ±0.02, clamped to [0,1];
 * v: ±10% relative), so the batch holds B distinct inputs. B ≤ b0 just takes the first B.
 */
function makeBatch(c, B) {
  const x = c.tensors.get('x'), v = c.tensors.get('v');
  const b0 = x.shape[0], per = x.data.length / b0;
  const xs = new Float32Array(B * per), vs = new Float32Array(B * per), target = [];
  const r = rng(0x5eed + B);
  for (let i = 0; i < B; i++) {
    const src = i % b0, off = src * per;
    target.push(c.target[src]);
    for (let j = 0; j < per; j++) {
      let xv = x.data[off + j], vv = v.data[off + j];
      if (i >= b0) { xv = Math.min(1, Math.max(0, xv + 0.02 * r())); vv *= 1 + 0.1 * r(); }
      xs[i * per + j] = xv; vs[i * per + j] = vv;
    }
  }
  const shape = [B, ...x.shape.slice(1)];
  return { x: { shape, data: xs }, v: { shape, data: vs }, target };
}

// ---- models ----
const OPS = ['forward', 'grad', 'hvp'];
const LIBS = ['smoothgeo', 'tfjs', 'jax-js'];
/** Footnoted error messages: text -> number. */
const notes = new Map();
const note = (text) => { if (!notes.has(text)) notes.set(text, notes.size + 1); return notes.get(text); };

for (const name of CASES) {
  const c = await loadOracleCase(name);
  const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, `${name}.safetensors`)), { prefix: 'param.' });
  const peers = {};
  for (const [lib, make] of [['tfjs', makeTfjsPeer], ['jax-js', makeJaxPeer]]) {
    try { peers[lib] = await make(c.model, c.weights); } catch (e) { peers[lib] = { error: errText(e) }; }
  }
  for (const B of BATCHES) {
    const { x, v, target } = makeBatch(c, B);
    const impl = {
      smoothgeo: {
        forward: async () => (await model.forward(x)).data,
        grad: async () => (await model.inputGradient(x, { kind: 'logit', target })).data,
        hvp: async () => (await model.inputHvp(x, v, { kind: 'logit', target })).data,
      },
    };
    for (const lib of ['tfjs', 'jax-js']) {
      const p = peers[lib];
      impl[lib] = p.error ? null : {
        forward: () => p.forward(x), grad: () => p.inputGradient(x, target), hvp: () => p.inputHvp(x, v, target),
      };
    }
    const row = { model: name, batch: B, input: x.shape, target, ops: {} };
    log(`\n== ${name} batch ${B} (input [${x.shape.join(', ')}])`);
    const ours = {};
    for (const op of OPS) {
      row.ops[op] = {};
      for (const lib of LIBS) {
        const entry = (row.ops[op][lib] = { ms: null, error: null, relL2VsSmoothgeo: null, runs: null });
        if (!impl[lib]) { entry.error = peers[lib].error; log(`  ${op.padEnd(7)} ${lib.padEnd(9)} cannot start: ${entry.error}`); continue; }
        const fn = impl[lib][op];
        try {
          const tFirst = performance.now();
          const got = await fn(); // first call: compiles shaders; its result is the one checked
          const first = performance.now() - tFirst;
          if (lib === 'smoothgeo') {
            ours[op] = got;
            if (B <= c.tensors.get('x').shape[0]) {
              const ref = c.tensors.get({ forward: 'logits', grad: 'grad_logit', hvp: 'hvp_logit' }[op]);
              entry.relL2VsOracle = relL2(got, ref.data.subarray(0, got.length));
            }
          } else if (ours[op]) entry.relL2VsSmoothgeo = relL2(got, ours[op]);
          let runs = 0;
          const maxRuns = lib === 'jax-js' && op === 'hvp' ? Math.min(JAX_HVP_MAX_RUNS, TIMING.maxRuns) : TIMING.maxRuns;
          entry.ms = await timeIt(async () => { runs++; await fn(); }, { ...TIMING, maxRuns });
          entry.runs = runs - TIMING.warmup;
          entry.firstCallMs = first;
          const check = lib === 'smoothgeo'
            ? (entry.relL2VsOracle != null ? `relL2 vs oracle ${fmtErr(entry.relL2VsOracle)}` : '')
            : `relL2 vs smoothgeo ${fmtErr(entry.relL2VsSmoothgeo)}`;
          log(`  ${op.padEnd(7)} ${lib.padEnd(9)} ${fmtMs(entry.ms).padStart(8)} ms  (${entry.runs} runs, first call ${fmtMs(first)} ms)  ${check}`);
          if ((entry.relL2VsOracle ?? 0) > TOL || (entry.relL2VsSmoothgeo ?? 0) > TOL) exitCode = 1;
        } catch (e) {
          entry.error = errText(e);
          if (lib === 'smoothgeo') exitCode = 1;
          log(`  ${op.padEnd(7)} ${lib.padEnd(9)} FAILS: ${entry.error}`);
        }
      }
    }
    row.hvpOverGrad = {};
    for (const lib of LIBS) {
      const g = row.ops.grad[lib].ms, h = row.ops.hvp[lib].ms;
      row.hvpOverGrad[lib] = g && h ? h / g : null;
    }
    for (const op of OPS) {
      const s = row.ops[op].smoothgeo.ms;
      for (const lib of ['tfjs', 'jax-js']) {
        const p = row.ops[op][lib].ms;
        row.ops[op][lib].peerOverSmoothgeo = p && s ? p / s : null;
      }
    }
    results.models.push(row);
  }
  for (const lib of ['tfjs', 'jax-js']) if (!peers[lib].error) peers[lib].dispose();
}

// ---- GEMM ----
log('\n== GEMM (square n×n·n×n, 2n³ flops; R products back to back, one readback of the last)');
function gemmInputs(n) {
  const r = rng(0xabc + n), a = new Float32Array(n * n), b = new Float32Array(n * n);
  const s = 1 / Math.sqrt(n);
  for (let i = 0; i < n * n; i++) { a[i] = r(); b[i] = r() * s; }
  return { a, b };
}
/**
 * Median ms of calls of run(R): at least 3, up to `repeats`, stopping after GEMM_BUDGET_MS of timed calls
 * (1024³ takes seconds per product on a software adapter). `warm`: one untimed call at R first.
 */
async function timeReps(run, R, repeats, warm) {
  if (warm) await run(R);
  const ts = [];
  let total = 0;
  while (ts.length < 3 || (ts.length < repeats && total < GEMM_BUDGET_MS)) {
    const t = performance.now();
    await run(R);
    const dt = performance.now() - t;
    ts.push(dt);
    total += dt;
  }
  ts.sort((p, q) => p - q);
  const m = ts.length >> 1;
  return ts.length % 2 ? ts[m] : (ts[m - 1] + ts[m]) / 2;
}
/** 256 sampled entries of A·B in float64 vs got: max relative error scaled by the row norm. */
function spotCheck(n, a, b, got) {
  const r = rng(0x777 + n);
  let worst = 0;
  for (let k = 0; k < 256; k++) {
    const i = Math.floor((r() + 1) / 2 * n), j = Math.floor((r() + 1) / 2 * n);
    let s = 0, scale = 0;
    for (let t = 0; t < n; t++) { s += a[i * n + t] * b[t * n + j]; scale += Math.abs(a[i * n + t] * b[t * n + j]); }
    worst = Math.max(worst, Math.abs(got[i * n + j] - s) / (scale || 1));
  }
  return worst;
}
const gemmPeers = {
  tfjs: (n, a, b) => {
    const A = tf.tensor2d(a, [n, n]), Bt = tf.tensor2d(b, [n, n]);
    return {
      async run(R) {
        const outs = [];
        try {
          for (let i = 0; i < R; i++) outs.push(tf.matMul(A, Bt));
          return await outs[R - 1].data();
        } finally { for (const o of outs) o.dispose(); }
      },
      release() { A.dispose(); Bt.dispose(); },
    };
  },
  'jax-js': (n, a, b) => {
    const np = jax.numpy;
    const A = np.array(a, { shape: [n, n], device: 'webgpu' }), Bj = np.array(b, { shape: [n, n], device: 'webgpu' });
    return {
      async run(R) {
        // jax-js is lazy: an array that is never realized is never computed, so realize all R, then read one.
        const outs = [];
        for (let i = 0; i < R; i++) outs.push(np.matmul(A.ref, Bj.ref));
        await jax.blockUntilReady(outs);
        for (let i = 0; i < R - 1; i++) outs[i].dispose();
        return await outs[R - 1].data(); // consumes it
      },
      release() { A.dispose(); Bj.dispose(); },
    };
  },
};
if (tf.getBackend() !== 'webgpu') {
  await import('@tensorflow/tfjs-backend-webgpu');
  try { await tf.setBackend('webgpu'); } catch { /* reported below */ }
  if (tf.getBackend() !== 'webgpu') log(`  (tfjs backend is ${tf.getBackend()}, not webgpu)`);
}
for (const n of GEMM_SIZES) {
  const { a, b } = gemmInputs(n);
  const flops = 2 * n ** 3;
  const row = { n, flops, R: null, libs: {} };
  const ours = await kernels.prepareGemm(engine, n, a, b);
  let ref = null;
  try {
    ref = await ours.run(1); // compiles; untimed
    const t = performance.now(); // R from one more call at R = 1
    await ours.run(1);
    const t1 = performance.now() - t;
    row.R = Math.max(1, Math.min(GEMM_MAX_R, Math.round(GEMM_TARGET_MS / t1)));
    const ms = await timeReps((R) => ours.run(R), row.R, GEMM_REPEATS, row.R > 1);
    row.libs.smoothgeo = { ms, msPerMatmul: ms / row.R, gflops: (flops * row.R) / (ms * 1e6), spotErr: spotCheck(n, a, b, ref) };
    if (row.libs.smoothgeo.spotErr > TOL) exitCode = 1;
  } catch (e) {
    row.libs.smoothgeo = { error: errText(e) };
    exitCode = 1;
  } finally { ours.release(); }
  const R = row.R ?? 1;
  for (const [lib, make] of Object.entries(gemmPeers)) {
    let p = null;
    try {
      p = make(n, a, b);
      const got = await p.run(1); // compiles; untimed
      const ms = await timeReps((r) => p.run(r), R, GEMM_REPEATS, R > 1);
      row.libs[lib] = { ms, msPerMatmul: ms / R, gflops: (flops * R) / (ms * 1e6), relL2VsSmoothgeo: ref ? relL2(got, ref) : null };
    } catch (e) {
      row.libs[lib] = { error: errText(e) };
    } finally { p?.release(); }
  }
  for (const lib of ['tfjs', 'jax-js']) {
    const L = row.libs[lib], S = row.libs.smoothgeo;
    if (L?.ms && S?.ms) L.peerOverSmoothgeo = L.msPerMatmul / S.msPerMatmul;
  }
  const parts = LIBS.map((lib) => {
    const L = row.libs[lib];
    if (L.error) return `${lib} FAILS: ${L.error}`;
    const chk = lib === 'smoothgeo' ? `spot err ${fmtErr(L.spotErr)}` : `relL2 vs ours ${fmtErr(L.relL2VsSmoothgeo)}`;
    return `${lib} ${L.gflops.toFixed(2)} GFLOP/s (${fmtMs(L.msPerMatmul)} ms each, ${chk})`;
  });
  log(`  n=${n} R=${R}: ${parts.join('; ')}`);
  results.gemm.push(row);
}

// ---- attacks on explanations: iterations per second ----
// One iteration = the map, its exact vector-Jacobian product (HVPs) on the surrogate, and the map and label
// on the model (the measure): Ghorbani's top-k attack on the oracle LeNet, batch 1. TF.js would need a
// nested tf.grad through max pooling, which fails (the LeNet hvp row above); jax-js is not given an attack loop.
results.attacks = [];
{
  const c = await loadOracleCase('lenet');
  const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, 'lenet.safetensors')), { prefix: 'param.' });
  const x = { shape: [1, 1, 28, 28], data: c.tensors.get('x').data.slice(0, 784) };
  const explains = quick ? [{ method: 'saliency' }] : [{ method: 'saliency' }, { method: 'smoothGrad', sigma: 0.1, samples: 16 }];
  log('\n== attacks on explanations (top-k, LeNet, batch 1)');
  for (const explain of explains) {
    const run = (iterations) => attackExplanation(model, x, { attack: 'topk', explain, epsilon: 0.03, iterations, k: 78, seed: 1 });
    await run(1); // compile
    const iterations = quick ? 3 : 10;
    const t = performance.now();
    const r = await run(iterations);
    const s = (performance.now() - t) / 1000;
    const row = { method: explain.method, samples: explain.samples ?? 1, iterations, seconds: s, iterationsPerSecond: iterations / s, topkAfter: r.measure.after[0] };
    results.attacks.push(row);
    log(`  ${explain.method}${explain.samples ? ` (${explain.samples} samples)` : ''}: ${row.iterationsPerSecond.toFixed(2)} iterations/s (top-k intersection after ${iterations}: ${row.topkAfter.toFixed(3)})`);
  }
}

// ---- summary ----
/** Plain-text table with right-aligned columns (first `left` columns left-aligned). */
function table(header, rows, left = 1) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i < left ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ').trimEnd();
  return [line(header), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}
const cell = (entry) => (entry.error ? `FAIL[${note(entry.error)}]` : fmtMs(entry.ms));
const modelRows = [];
for (const r of results.models) {
  for (const op of OPS) {
    const o = r.ops[op];
    modelRows.push([r.model, r.batch, op, cell(o.smoothgeo), fmtErr(o.smoothgeo.relL2VsOracle),
      cell(o.tfjs), fmtRatio(o.tfjs.peerOverSmoothgeo), fmtErr(o.tfjs.relL2VsSmoothgeo),
      cell(o['jax-js']), fmtRatio(o['jax-js'].peerOverSmoothgeo), fmtErr(o['jax-js'].relL2VsSmoothgeo)]);
  }
  const h = r.hvpOverGrad;
  modelRows.push([r.model, r.batch, 'hvp/grad', fmtRatio(h.smoothgeo), '', fmtRatio(h.tfjs), '', '', fmtRatio(h['jax-js']), '', '']);
}
log(`\n== Summary: ${engine.describe()}`);
if (engine.adapter.software) log('   (software adapter: numbers say little about real GPUs)');
log('   median ms per call (upload + readback included); "x sg" = peer time / smoothgeo time (above 1: smoothgeo faster);');
log(`   relL2: smoothgeo vs the PyTorch oracle (batch 1), each peer vs smoothgeo on the same inputs ("!": above ${TOL})\n`);
log(table(['model', 'batch', 'op', 'smoothgeo ms', 'relL2 oracle', 'tfjs ms', 'x sg', 'relL2', 'jax-js ms', 'x sg', 'relL2'],
  modelRows, 3));
const gemmRows = results.gemm.map((g) => {
  const c = (lib, f) => (g.libs[lib]?.error ? `FAIL[${note(g.libs[lib].error)}]` : f(g.libs[lib]));
  return [g.n, g.R ?? '-',
    c('smoothgeo', (L) => L.gflops.toFixed(2)), c('smoothgeo', (L) => fmtMs(L.msPerMatmul)),
    c('tfjs', (L) => L.gflops.toFixed(2)), c('tfjs', (L) => fmtRatio(L.peerOverSmoothgeo)),
    c('jax-js', (L) => L.gflops.toFixed(2)), c('jax-js', (L) => fmtRatio(L.peerOverSmoothgeo))];
});
log('\n   GEMM n×n·n×n: GFLOP/s over R back-to-back products and one readback; "x sg" = peer time / smoothgeo time\n');
log(table(['n', 'R', 'smoothgeo GFLOP/s', 'ms each', 'tfjs GFLOP/s', 'x sg', 'jax-js GFLOP/s', 'x sg'], gemmRows, 0));
log('\n   attacks on explanations, LeNet batch 1 (tfjs cannot: nested tf.grad through max pooling fails)\n');
log(table(['method', 'samples', 'iterations/s'], results.attacks.map((a) => [a.method, a.samples, a.iterationsPerSecond.toFixed(2)]), 1));
if (notes.size) {
  log('');
  for (const [text, i] of notes) log(`[${i}] ${text}`);
}
results.notes = Object.fromEntries([...notes].map(([t, i]) => [i, t]));
results.totalSeconds = (performance.now() - t0) / 1000;
if (exitCode) log('\nsmoothgeo FAILED a call or a check above (exit status 1)');
log(`\ncommand: ${command}   (${npmCommand}; ${results.totalSeconds.toFixed(0)} s)`);

if (jsonPath) {
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n');
  log(`wrote ${relative(process.cwd(), jsonPath) || jsonPath}`);
}

engine.dispose();
await releaseNodeWebGPU();
finish();
