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
// 4. How each LeNet and ResNet-18 call uses the device (bench/host.ts, bundled on the fly, on an engine of its
//    own): dispatches per call, the largest and smallest threads per dispatch, host µs per dispatch and the
//    queue submits per call (ResNet-18 at 224×224, --quick: 32×32).
//
// 5. ResNet-18 (torchvision architecture, random weights) at 1×3×224×224, smoothgeo only: forward, input
//    gradient, input HVP and SmoothGrad with 16 samples within a 256 MiB budget, seconds and peak memory per
//    call (bench/resnet18-rows.mjs; one warm-up call for each but SmoothGrad, whose kernels the gradient's
//    warm-up compiled). No peer row: TF.js fails the HVP through max pooling, and jax-js has no model import.
//
// 6. Last, the WebAssembly tables of bench/wasm.mjs: smoothgeo's wasm backend (1 and 2 threads) against
//    TensorFlow.js's wasm backend on the same models, kernel GFLOP/s as % of the in-process wasm SIMD128 peak.
//
// Options: --quick (fewer repeats, batch 1 only, GEMM 256 only, ResNet-18 at 64×64), --json FILE (also
// write every number), --resnet SIZE (the ResNet-18 input size; 0 leaves its rows out).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  errText,
  finish,
  fmtErr as fmtErrTol,
  fmtMs,
  fmtRatio,
  importInternal,
  importSmoothgeo,
  log,
  makeBatch,
  Notes,
  parseBenchArgs,
  table,
  timeIt,
  version,
  writeReport,
} from './harness.mjs';
import { benchGemm } from './gemm.mjs';
import { benchWasm } from './wasm.mjs';
import { resnet18Rows } from './resnet18-rows.mjs';
import { randomWeights, resnet18Spec, weightShapes } from './resnet18-spec.mjs';
import { installNodeWebGPU, releaseNodeWebGPU, loadOracleCase, makePeers, relL2, ORACLE_DIR } from './peers.mjs';

// ---- options ----
const {
  values: opts,
  command,
  npmCommand,
} = parseBenchArgs('bench/run.mjs', {
  quick: { type: 'boolean', default: false },
  json: { type: 'string' },
  // ResNet-18 rows at 1×3×SIZE×SIZE (0: none); default 224, 64 with --quick.
  resnet: { type: 'string' },
});
const quick = opts.quick;
const RESNET_SIZE = Number(opts.resnet ?? (quick ? 64 : 224));
const jsonPath = opts.json;

const CASES = ['lenet', 'mlp'];
const BATCHES = quick ? [1] : [1, 32];
const GEMM_SIZES = quick ? [256] : [256, 512, 1024];
/** timeIt settings for the model calls. */
const TIMING = quick
  ? { warmup: 1, minRuns: 3, minMs: 200, maxRuns: 50 }
  : { warmup: 2, minRuns: 5, minMs: 1000, maxRuns: 200 };
/** jax-js leaks GPU buffers in every HVP call (see peers.mjs): fewer runs there. */
const JAX_HVP_MAX_RUNS = quick ? 10 : 40;
/** GEMM: R is picked so one timed batch of R products takes about this long (on our GEMM); repeats of it. */
const GEMM_TARGET_MS = quick ? 300 : 1000;
const GEMM_MAX_R = 64;
const GEMM_REPEATS = quick ? 3 : 5;
const GEMM_BUDGET_MS = quick ? 3000 : 10000;

const t0 = performance.now();
const TOL = 1e-4; // the oracle README's tolerance (relative L2) for float32 logits, gradients and HVPs
/** @param {number | null | undefined} e */
const fmtErr = (e) => fmtErrTol(e, TOL);

// The exit status is 1 when a smoothgeo call failed or disagreed with the oracle or a peer beyond TOL.
let exitCode = 0;

// ---- bench/kernels.ts against the sources (our GEMM is internal) ----
const kernels = await importInternal('kernels');

// ---- one GPU for all three ----
const peerAdapter = await installNodeWebGPU();
const gpu = /** @type {any} */ (globalThis).navigator.gpu;
const sg = await importSmoothgeo();
const { createEngine, loadModel, attackExplanation } = sg;
const engine = await createEngine({ backend: 'webgpu', gpu, powerPreference: 'high-performance' });
const tf = await import('@tensorflow/tfjs'); // only now: tfjs-backend-webgpu registers itself if navigator.gpu exists
const jax = await import('@jax-js/jax');

log(
  `smoothgeo bench (${quick ? 'quick' : 'full'}) — node ${process.versions.node}, tfjs ${version('@tensorflow/tfjs')}, ` +
    `tfjs-backend-webgpu ${version('@tensorflow/tfjs-backend-webgpu')}, jax-js ${version('@jax-js/jax')}`,
);
log(`adapter: ${engine.describe()}`);
const same =
  [peerAdapter.vendor, peerAdapter.architecture, peerAdapter.description].join('/') ===
  [engine.adapter.vendor, engine.adapter.architecture, engine.adapter.description].join('/');
log(
  `peers' adapter (navigator.gpu, same GPU object): ${peerAdapter.vendor} / ${peerAdapter.architecture} / ${peerAdapter.description}` +
    (same ? '' : '  <-- DIFFERENT from ours'),
);
if (engine.adapter.software) {
  log('WARNING: this is a software (CPU) WebGPU adapter: the numbers below say little about real GPUs.');
}

const results = {
  command,
  npmCommand: npmCommand('bench'),
  quick,
  date: new Date().toISOString(),
  node: process.versions.node,
  versions: {
    tfjs: version('@tensorflow/tfjs'),
    tfjsWebgpu: version('@tensorflow/tfjs-backend-webgpu'),
    jaxjs: version('@jax-js/jax'),
  },
  adapter: engine.adapter,
  describe: engine.describe(),
  peerAdapter,
  timing: { ...TIMING, jaxHvpMaxRuns: JAX_HVP_MAX_RUNS, unit: 'median ms per call, upload and readback included' },
  models: /** @type {any[]} */ ([]),
  gemm: /** @type {any[]} */ ([]),
  attacks: /** @type {any[]} */ ([]),
  resnet18: /** @type {any} */ (null),
  calls: /** @type {any[]} */ ([]),
  notes: /** @type {Record<string, string>} */ ({}),
  totalSeconds: 0,
};

// ---- models ----
const OPS = ['forward', 'grad', 'hvp'];
const LIBS = ['smoothgeo', 'tfjs', 'jax-js'];
/** Footnoted error messages. */
const notes = new Notes();
const note = (/** @type {string} */ text) => notes.note(text);

for (const name of CASES) {
  const c = await loadOracleCase(name);
  const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, `${name}.safetensors`)), {
    prefix: 'param.',
  });
  const peers = await makePeers(c.model, c.weights);
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
      impl[lib] = p.error
        ? null
        : {
            forward: () => p.forward(x),
            grad: () => p.inputGradient(x, target),
            hvp: () => p.inputHvp(x, v, target),
          };
    }
    const row = { model: name, batch: B, input: x.shape, target, ops: {} };
    log(`\n== ${name} batch ${B} (input [${x.shape.join(', ')}])`);
    const ours = {};
    for (const op of OPS) {
      row.ops[op] = {};
      for (const lib of LIBS) {
        const entry = (row.ops[op][lib] = /** @type {Record<string, any>} */ ({
          ms: null,
          error: null,
          relL2VsSmoothgeo: null,
          runs: null,
        }));
        if (!impl[lib]) {
          entry.error = peers[lib].error;
          log(`  ${op.padEnd(7)} ${lib.padEnd(9)} cannot start: ${entry.error}`);
          continue;
        }
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
          const maxRuns =
            lib === 'jax-js' && op === 'hvp' ? Math.min(JAX_HVP_MAX_RUNS, TIMING.maxRuns) : TIMING.maxRuns;
          entry.ms = await timeIt(
            async () => {
              runs++;
              await fn();
            },
            { ...TIMING, maxRuns },
          );
          entry.runs = runs - TIMING.warmup;
          entry.firstCallMs = first;
          const check =
            lib === 'smoothgeo'
              ? entry.relL2VsOracle != null
                ? `relL2 vs oracle ${fmtErr(entry.relL2VsOracle)}`
                : ''
              : `relL2 vs smoothgeo ${fmtErr(entry.relL2VsSmoothgeo)}`;
          log(
            `  ${op.padEnd(7)} ${lib.padEnd(9)} ${fmtMs(entry.ms).padStart(8)} ms  (${entry.runs} runs, first call ${fmtMs(first)} ms)  ${check}`,
          );
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
      const g = row.ops.grad[lib].ms,
        h = row.ops.hvp[lib].ms;
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
if (tf.getBackend() !== 'webgpu') {
  await import('@tensorflow/tfjs-backend-webgpu');
  try {
    await tf.setBackend('webgpu');
  } catch {
    /* reported below */
  }
  if (tf.getBackend() !== 'webgpu') log(`  (tfjs backend is ${tf.getBackend()}, not webgpu)`);
}
results.gemm = await benchGemm({
  engine,
  kernels,
  tf,
  jax,
  sizes: GEMM_SIZES,
  targetMs: GEMM_TARGET_MS,
  maxR: GEMM_MAX_R,
  repeats: GEMM_REPEATS,
  budgetMs: GEMM_BUDGET_MS,
});
for (const row of results.gemm) {
  if (row.libs.smoothgeo.error || row.libs.smoothgeo.spotErr > TOL) exitCode = 1;
  const parts = LIBS.map((lib) => {
    const L = row.libs[lib];
    if (L.error) return `${lib} FAILS: ${L.error}`;
    const chk = lib === 'smoothgeo' ? `spot err ${fmtErr(L.spotErr)}` : `relL2 vs ours ${fmtErr(L.relL2VsSmoothgeo)}`;
    return `${lib} ${L.gflops.toFixed(2)} GFLOP/s (${fmtMs(L.msPerMatmul)} ms each, ${chk})`;
  });
  log(`  n=${row.n} R=${row.R ?? 1}: ${parts.join('; ')}`);
}

// ---- how each call uses the device: dispatches, threads per dispatch, host µs, submits ----
{
  const host = await importInternal('host');
  const he = await host.createEngine({ backend: 'webgpu' });
  const S = quick ? 32 : 224;
  const models = [];
  {
    const c = await loadOracleCase('lenet');
    const m = await host.loadModel(he, c.spec.model, readFileSync(join(ORACLE_DIR, 'lenet.safetensors')), {
      prefix: 'param.',
    });
    for (const B of quick ? [1] : [1, 16]) models.push({ name: 'lenet', B, model: m, ...makeBatch(c, B) });
  }
  {
    const spec = resnet18Spec(S);
    const m = await host.loadModel(he, spec, host.encodeSafetensors(randomWeights(weightShapes(spec))));
    const d = 3 * S * S;
    const x = { shape: [1, 3, S, S], data: Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 0.5 + 0.5) };
    const v = { shape: [1, 3, S, S], data: Float32Array.from({ length: d }, (_, i) => Math.cos(i) * 0.5) };
    models.push({ name: `resnet18 ${S}×${S}`, B: 1, model: m, x, v, target: [0] });
  }
  for (const { name, B, model, x, v, target } of models) {
    const resnet = name.startsWith('resnet');
    const only = resnet ? ['forward', 'inputGradient', 'paramGradient', 'smoothGrad'] : null;
    const costs = await host.modelCosts(model, x, v, target, resnet ? 4 : 16, quick || resnet ? 3 : 9, only);
    for (const k of costs) results.calls.push({ model: name, batch: B, ...k });
  }
  he.dispose();
  log('\n== per call: dispatches, threads per dispatch (largest, smallest), host µs per dispatch, queue submits');
  log(
    table(
      ['model', 'batch', 'call', 'dispatches', 'max threads', 'min threads', 'host µs/dispatch', 'submits', 'wall ms'],
      results.calls.map((k) => [
        k.model,
        k.batch,
        k.method,
        k.dispatches,
        k.maxThreads,
        k.minThreads,
        k.encodeUsPerDispatch.toFixed(1),
        k.submits,
        (k.wallUs / 1000).toFixed(1),
      ]),
      3,
    ),
  );
}

// ---- attacks on explanations: iterations per second ----
// One iteration = the map, its exact vector-Jacobian product (HVPs) on the surrogate, and the map and label
// on the model (the measure): Ghorbani's top-k attack on the oracle LeNet, batch 1. TF.js would need a
// nested tf.grad through max pooling, which fails (the LeNet hvp row above); jax-js is not given an attack loop.
{
  const c = await loadOracleCase('lenet');
  const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, 'lenet.safetensors')), {
    prefix: 'param.',
  });
  const x = { shape: [1, 1, 28, 28], data: c.tensors.get('x').data.slice(0, 784) };
  const explains = quick
    ? [{ method: 'saliency' }]
    : [{ method: 'saliency' }, { method: 'smoothGrad', sigma: 0.1, samples: 16 }];
  log('\n== attacks on explanations (top-k, LeNet, batch 1)');
  for (const explain of explains) {
    const run = (iterations) =>
      attackExplanation(model, x, { attack: 'topk', explain, epsilon: 0.03, iterations, k: 78, seed: 1 });
    await run(1); // compile
    const iterations = quick ? 3 : 10;
    const t = performance.now();
    const r = await run(iterations);
    const s = (performance.now() - t) / 1000;
    const row = {
      method: explain.method,
      samples: explain.samples ?? 1,
      iterations,
      seconds: s,
      iterationsPerSecond: iterations / s,
      topkAfter: r.measure.after[0],
    };
    results.attacks.push(row);
    log(
      `  ${explain.method}${explain.samples ? ` (${explain.samples} samples)` : ''}: ${row.iterationsPerSecond.toFixed(2)} iterations/s (top-k intersection after ${iterations}: ${row.topkAfter.toFixed(3)})`,
    );
  }
}

// ---- ResNet-18 ----
if (RESNET_SIZE > 0) {
  log(`\n== ResNet-18 (smoothgeo only)`);
  try {
    results.resnet18 = await resnet18Rows(sg, engine, {
      size: RESNET_SIZE,
      warmup: ['forward', 'gradient', 'hvp'],
      log: (s) => log(s),
    });
  } catch (e) {
    exitCode = 1;
    results.resnet18 = { size: RESNET_SIZE, error: errText(e) };
    log(`  FAILS: ${errText(e)}`);
  }
}

// ---- summary ----
const cell = (entry) => (entry.error ? `FAIL[${note(entry.error)}]` : fmtMs(entry.ms));
const modelRows = [];
for (const r of results.models) {
  for (const op of OPS) {
    const o = r.ops[op];
    modelRows.push([
      r.model,
      r.batch,
      op,
      cell(o.smoothgeo),
      fmtErr(o.smoothgeo.relL2VsOracle),
      cell(o.tfjs),
      fmtRatio(o.tfjs.peerOverSmoothgeo),
      fmtErr(o.tfjs.relL2VsSmoothgeo),
      cell(o['jax-js']),
      fmtRatio(o['jax-js'].peerOverSmoothgeo),
      fmtErr(o['jax-js'].relL2VsSmoothgeo),
    ]);
  }
  const h = r.hvpOverGrad;
  modelRows.push([
    r.model,
    r.batch,
    'hvp/grad',
    fmtRatio(h.smoothgeo),
    '',
    fmtRatio(h.tfjs),
    '',
    '',
    fmtRatio(h['jax-js']),
    '',
    '',
  ]);
}
log(`\n== Summary: ${engine.describe()}`);
if (engine.adapter.software) log('   (software adapter: numbers say little about real GPUs)');
log(
  '   median ms per call (upload + readback included); "x sg" = peer time / smoothgeo time (above 1: smoothgeo faster);',
);
log(
  `   relL2: smoothgeo vs the PyTorch oracle (batch 1), each peer vs smoothgeo on the same inputs ("!": above ${TOL})\n`,
);
log(
  table(
    ['model', 'batch', 'op', 'smoothgeo ms', 'relL2 oracle', 'tfjs ms', 'x sg', 'relL2', 'jax-js ms', 'x sg', 'relL2'],
    modelRows,
    3,
  ),
);
if (results.resnet18?.rows) {
  const R = results.resnet18;
  log(
    `\n   ResNet-18, 1×3×${R.size}×${R.size} (random weights), smoothgeo: seconds per call and peak memory (weights included;` +
      ` SmoothGrad within maxBytes = ${R.maxBytes / 2 ** 20} MiB)\n`,
  );
  log(
    table(
      ['model', 'batch', 'op', 'smoothgeo s', 'peak MiB', 'chunks'],
      R.rows.map((r) => [
        'resnet18',
        1,
        r.key,
        r.seconds.toFixed(2),
        r.peakMiB === null ? '-' : r.peakMiB.toFixed(1),
        r.chunks ?? '-',
      ]),
      3,
    ),
  );
} else if (results.resnet18?.error) log(`\n   ResNet-18: FAILED (${results.resnet18.error})`);
const gemmRows = results.gemm.map((g) => {
  const c = (lib, f) => (g.libs[lib]?.error ? `FAIL[${note(g.libs[lib].error)}]` : f(g.libs[lib]));
  return [
    g.n,
    g.R ?? '-',
    c('smoothgeo', (L) => L.gflops.toFixed(2)),
    c('smoothgeo', (L) => fmtMs(L.msPerMatmul)),
    c('tfjs', (L) => L.gflops.toFixed(2)),
    c('tfjs', (L) => fmtRatio(L.peerOverSmoothgeo)),
    c('jax-js', (L) => L.gflops.toFixed(2)),
    c('jax-js', (L) => fmtRatio(L.peerOverSmoothgeo)),
  ];
});
log('\n   GEMM n×n·n×n: GFLOP/s over R back-to-back products and one readback; "x sg" = peer time / smoothgeo time\n');
log(table(['n', 'R', 'smoothgeo GFLOP/s', 'ms each', 'tfjs GFLOP/s', 'x sg', 'jax-js GFLOP/s', 'x sg'], gemmRows, 0));
log('\n   attacks on explanations, LeNet batch 1 (tfjs cannot: nested tf.grad through max pooling fails)\n');
log(
  table(
    ['method', 'samples', 'iterations/s'],
    results.attacks.map((a) => [a.method, a.samples, a.iterationsPerSecond.toFixed(2)]),
    1,
  ),
);
notes.print();
results.notes = notes.toJSON();
results.wasm = await benchWasm({ quick });
results.totalSeconds = (performance.now() - t0) / 1000;
if (exitCode) log('\nsmoothgeo FAILED a call or a check above (exit status 1)');
log(`\ncommand: ${command}   (${results.npmCommand}; ${results.totalSeconds.toFixed(0)} s)`);
writeReport(jsonPath, results);

engine.dispose();
await releaseNodeWebGPU();
finish(exitCode);
