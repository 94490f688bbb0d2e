// The GPU bench: one script, sized to finish in under 5 minutes on a real GPU, that says how smoothgeo's kernels
// use the hardware. `--quick` shrinks every size so that it also runs on a software adapter (SwiftShader), as
// a check that the script works; its numbers say nothing about GPUs.
//
//   npm run bench:gpu [-- --quick] [-- --peak-tflops N --peak-source TEXT] [-- --json FILE]
//
// It prints:
//  1. The adapter (vendor, architecture, description), the device's limits and features.
//  2. GEMM GFLOP/s at n = 1024, 2048, 4096 (smoothgeo, tf.matMul, jax-js np.matmul) against the adapter's fp32
//     peak where the adapter is known (the peak assumed and its source are printed; --peak-tflops overrides).
//     The goal on a real GPU: n = 4096 at ≥ 40% of fp32 peak.
//  3. conv2d forward, backward-input and backward-filter GFLOP/s on ResNet-18-like 3×3 layers.
//  4. LeNet and MLP (the oracle models): input gradient, input HVP and SmoothGrad-50 at batch 1 and 64, median
//     ms per call (upload and readback included) for smoothgeo, TF.js (webgpu) and jax-js (webgpu).
//  5. Where the adapter has 'timestamp-query': engine.profile of one LeNet HVP at batch 64, the GPU time of
//     each kernel; otherwise the reason it cannot.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchGemm } from './gemm.mjs';
import {
  errText,
  finish,
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
  timeReps,
  version,
  writeReport,
} from './harness.mjs';
import {
  installNodeWebGPU,
  loadOracleCase,
  makeJaxPeer,
  makeTfjsPeer,
  ORACLE_DIR,
  releaseNodeWebGPU,
} from './peers.mjs';

const {
  values: opts,
  command,
  npmCommand,
} = parseBenchArgs('bench/gpu.mjs', {
  quick: { type: 'boolean', default: false },
  'peak-tflops': { type: 'string' },
  'peak-source': { type: 'string' },
  json: { type: 'string' },
});
const quick = opts.quick;

const GEMM_SIZES = quick ? [128, 256] : [1024, 2048, 4096];
/** ResNet-18's 3×3 layers at batch 8 (quick: small stand-ins of the same structure). */
const CONVS = quick
  ? [
      { n: 1, c: 8, hw: 16, o: 8, k: 3, stride: 1, pad: 1 },
      { n: 1, c: 8, hw: 16, o: 16, k: 3, stride: 2, pad: 1 },
    ]
  : [
      { n: 8, c: 64, hw: 56, o: 64, k: 3, stride: 1, pad: 1 },
      { n: 8, c: 128, hw: 28, o: 128, k: 3, stride: 1, pad: 1 },
      { n: 8, c: 256, hw: 14, o: 256, k: 3, stride: 1, pad: 1 },
      { n: 8, c: 512, hw: 7, o: 512, k: 3, stride: 1, pad: 1 },
      { n: 8, c: 64, hw: 56, o: 128, k: 3, stride: 2, pad: 1 },
    ];
const BATCHES = quick ? [1, 4] : [1, 64];
const SAMPLES = quick ? 8 : 50;
const TIMING = quick
  ? { warmup: 1, minRuns: 3, minMs: 100, maxRuns: 10 }
  : { warmup: 2, minRuns: 5, minMs: 400, maxRuns: 100 };
const REPS = quick
  ? { targetMs: 100, maxR: 8, repeats: 3, budgetMs: 1000 }
  : { targetMs: 300, maxR: 64, repeats: 5, budgetMs: 3000 };

/**
 * fp32 (non-tensor-core) peak TFLOP/s of known adapters, matched on the adapter's description and device
 * strings, with where each number comes from. Unknown adapters get no peak unless --peak-tflops gives one.
 */
const PEAKS = [
  {
    match: /H200/i,
    name: 'NVIDIA H200 SXM',
    tflops: 67,
    source: 'NVIDIA H200 Tensor Core GPU datasheet (FP32: 67 TFLOPS)',
  },
  {
    match: /H100.*PCIe/i,
    name: 'NVIDIA H100 PCIe',
    tflops: 51,
    source: 'NVIDIA H100 Tensor Core GPU datasheet (FP32, PCIe: 51 TFLOPS)',
  },
  {
    match: /H100/i,
    name: 'NVIDIA H100 SXM5',
    tflops: 67,
    source: 'NVIDIA H100 Tensor Core GPU datasheet (FP32, SXM: 67 TFLOPS)',
  },
  {
    match: /A100/i,
    name: 'NVIDIA A100',
    tflops: 19.5,
    source: 'NVIDIA A100 Tensor Core GPU datasheet (FP32: 19.5 TFLOPS)',
  },
  { match: /L40S/i, name: 'NVIDIA L40S', tflops: 91.6, source: 'NVIDIA L40S datasheet (FP32: 91.6 TFLOPS)' },
  {
    match: /\bL4\b/i,
    name: 'NVIDIA L4',
    tflops: 30.3,
    source: 'NVIDIA L4 Tensor Core GPU datasheet (FP32: 30.3 TFLOPS)',
  },
  {
    match: /\bA10\b/i,
    name: 'NVIDIA A10',
    tflops: 31.2,
    source: 'NVIDIA A10 Tensor Core GPU datasheet (FP32: 31.2 TFLOPS)',
  },
  {
    match: /\bT4\b/i,
    name: 'NVIDIA T4',
    tflops: 8.1,
    source: 'NVIDIA T4 Tensor Core GPU datasheet (FP32: 8.1 TFLOPS)',
  },
  {
    match: /RTX 4090/i,
    name: 'NVIDIA GeForce RTX 4090',
    tflops: 82.6,
    source: 'NVIDIA Ada Lovelace GPU architecture whitepaper (FP32: 82.6 TFLOPS)',
  },
  {
    match: /RTX 3090/i,
    name: 'NVIDIA GeForce RTX 3090',
    tflops: 35.6,
    source: 'NVIDIA Ampere GA102 GPU architecture whitepaper (FP32: 35.6 TFLOPS)',
  },
];

const t0 = performance.now();
let exitCode = 0;
const notes = new Notes();
const TOL = 1e-4;

// ---- the adapter ----
const peerAdapter = await installNodeWebGPU();
const gpu = /** @type {any} */ (globalThis).navigator.gpu;
const { createEngine, loadModel, smoothGrad } = await importSmoothgeo();
const engine = await createEngine({ backend: 'webgpu', gpu, powerPreference: 'high-performance' });
const kernels = await importInternal('kernels');
const tf = await import('@tensorflow/tfjs');
if (tf.getBackend() !== 'webgpu') {
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu').catch(() => {});
}
const jax = await import('@jax-js/jax');
await jax.init('webgpu'); // the GEMM below runs before any jax-js peer model (which would init it)
const device = await kernels.deviceInfo(engine);
const a = engine.adapter;
log(
  `smoothgeo GPU bench (${quick ? 'quick: small sizes, a check that the script runs' : 'full'}) — node ${process.versions.node}, ` +
    `tfjs ${version('@tensorflow/tfjs')} (backend ${tf.getBackend()}), jax-js ${version('@jax-js/jax')}`,
);
log(`adapter: ${engine.describe()}`);
log(
  `  vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, device ${a.device || '?'}, description ${a.description || '?'}`,
);
log(
  `  limits: ${Object.entries(device.limits)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
log(`  features: ${device.features.join(' ')}`);
if (a.software) log('WARNING: a software (CPU) WebGPU adapter: these numbers say nothing about GPUs.');

const known = PEAKS.find((p) => p.match.test(`${a.description} ${a.device} ${a.vendor} ${a.architecture}`));
const peak = opts['peak-tflops']
  ? {
      name: 'given',
      tflops: Number(opts['peak-tflops']),
      source: opts['peak-source'] ?? '--peak-tflops (source not given)',
    }
  : (known ?? null);
if (peak && !(peak.tflops > 0)) {
  console.error(`bench/gpu.mjs: --peak-tflops must be a positive number, got ${opts['peak-tflops']}`);
  process.exit(2);
}
log(
  peak
    ? `fp32 peak assumed: ${peak.tflops} TFLOP/s (${peak.name}; source: ${peak.source})`
    : 'fp32 peak: unknown for this adapter (give --peak-tflops N --peak-source TEXT to compare against one)',
);
const ofPeak = (gflops) => (peak && gflops != null ? `${((gflops / (peak.tflops * 1000)) * 100).toFixed(1)}%` : '-');

const results = {
  command,
  npmCommand: npmCommand('bench:gpu'),
  quick,
  date: new Date().toISOString(),
  adapter: a,
  describe: engine.describe(),
  peerAdapter,
  device,
  peak,
  gemm: [],
  conv: [],
  models: [],
  profile: null,
  notes: {},
  totalSeconds: 0,
};

// ---- GEMM ----
log('\n== GEMM n×n·n×n (2n³ flops; R products back to back, one readback)');
results.gemm = await benchGemm({ engine, kernels, tf, jax, sizes: GEMM_SIZES, ...REPS });
const cellGemm = (L, f) => (L?.error ? `FAIL[${notes.note(L.error)}]` : f(L));
log(
  table(
    ['n', 'R', 'smoothgeo GFLOP/s', 'of peak', 'tfjs GFLOP/s', 'of peak', 'jax-js GFLOP/s', 'of peak', 'spot err'],
    results.gemm.map((g) => {
      const S = g.libs.smoothgeo,
        T = g.libs.tfjs,
        J = g.libs['jax-js'];
      if (S.error || S.spotErr > TOL) exitCode = 1;
      return [
        g.n,
        g.R ?? '-',
        cellGemm(S, (L) => L.gflops.toFixed(1)),
        cellGemm(S, (L) => ofPeak(L.gflops)),
        cellGemm(T, (L) => L.gflops.toFixed(1)),
        cellGemm(T, (L) => ofPeak(L.gflops)),
        cellGemm(J, (L) => L.gflops.toFixed(1)),
        cellGemm(J, (L) => ofPeak(L.gflops)),
        cellGemm(S, (L) => L.spotErr.toExponential(1)),
      ];
    }),
    0,
  ),
);

// ---- conv2d ----
log('\n== conv2d, ResNet-18-like 3×3 layers: GFLOP/s of each pass (2·N·O·OH·OW·C·9 flops; R passes back to back)');
for (const shape of CONVS) {
  const cc = await kernels.prepareConv(engine, shape);
  const row = { shape: cc.label, flops: cc.flops, passes: {} };
  try {
    for (const pass of ['forward', 'backwardInput', 'backwardFilter']) {
      try {
        await cc.run(pass, 1); // compiles; untimed
        const t = performance.now();
        await cc.run(pass, 1);
        const R = Math.max(1, Math.min(REPS.maxR, Math.round(REPS.targetMs / (performance.now() - t))));
        const ms = await timeReps((r) => cc.run(pass, r), R, {
          repeats: REPS.repeats,
          budgetMs: REPS.budgetMs,
          warm: R > 1,
        });
        row.passes[pass] = { R, msEach: ms / R, gflops: (cc.flops * R) / (ms * 1e6) };
      } catch (e) {
        row.passes[pass] = { error: errText(e) };
        exitCode = 1;
      }
    }
  } finally {
    cc.release();
  }
  results.conv.push(row);
}
const cellConv = (P) => (P.error ? `FAIL[${notes.note(P.error)}]` : `${P.gflops.toFixed(1)} (${ofPeak(P.gflops)})`);
log(
  table(
    ['layer', 'forward GFLOP/s', 'backward input', 'backward filter'],
    results.conv.map((r) => [
      r.shape,
      cellConv(r.passes.forward),
      cellConv(r.passes.backwardInput),
      cellConv(r.passes.backwardFilter),
    ]),
  ),
);

// ---- models ----
log(`\n== LeNet and MLP: median ms per call (upload + readback), SmoothGrad with ${SAMPLES} samples (σ = 0.15)`);
const LIBS = ['smoothgeo', 'tfjs', 'jax-js'];
const OPS = ['gradient', 'hvp', `smoothGrad-${SAMPLES}`];
for (const name of ['lenet', 'mlp']) {
  const c = await loadOracleCase(name);
  const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, `${name}.safetensors`)), {
    prefix: 'param.',
  });
  /** @type {Record<string, any>} */
  const peers = {};
  for (const [lib, make] of /** @type {[string, typeof makeTfjsPeer][]} */ ([
    ['tfjs', makeTfjsPeer],
    ['jax-js', makeJaxPeer],
  ])) {
    try {
      peers[lib] = await make(c.model, c.weights);
    } catch (e) {
      peers[lib] = { error: errText(e) };
    }
  }
  for (const B of BATCHES) {
    const { x, v, target } = makeBatch(c, B);
    /** @type {Record<string, Record<string, () => Promise<unknown>> | { error: string }>} */
    const impl = {
      smoothgeo: {
        gradient: () => model.inputGradient(x, { kind: 'logit', target }),
        hvp: () => model.inputHvp(x, v, { kind: 'logit', target }),
        [OPS[2]]: () => smoothGrad(model, x, { target, sigma: 0.15, samples: SAMPLES, seed: 1 }),
      },
    };
    for (const lib of ['tfjs', 'jax-js']) {
      const p = peers[lib];
      impl[lib] = p.error
        ? { error: p.error }
        : {
            gradient: () => p.inputGradient(x, target),
            hvp: () => p.inputHvp(x, v, target),
            // jax-js has no vmap rule for pooling: its SmoothGrad runs as one batched gradient (as TF.js does).
            [OPS[2]]: () =>
              lib === 'jax-js'
                ? p.smoothGrad(x, target, 0.15, SAMPLES, { seed: 1, mode: 'batched' })
                : p.smoothGrad(x, target, 0.15, SAMPLES, { seed: 1 }),
          };
    }
    const row = { model: name, batch: B, ops: {} };
    for (const op of OPS) {
      row.ops[op] = {};
      for (const lib of LIBS) {
        const L = impl[lib];
        if ('error' in L) {
          row.ops[op][lib] = { error: L.error };
          continue;
        }
        try {
          row.ops[op][lib] = { ms: await timeIt(/** @type {() => Promise<unknown>} */ (L[op]), TIMING) };
        } catch (e) {
          row.ops[op][lib] = { error: errText(e) };
          if (lib === 'smoothgeo') exitCode = 1;
        }
      }
    }
    results.models.push(row);
  }
  for (const lib of ['tfjs', 'jax-js']) if (!peers[lib].error) peers[lib].dispose();
}
const cellMs = (E) => (E.error ? `FAIL[${notes.note(E.error)}]` : fmtMs(E.ms));
const ratio = (E, S) => (E.ms && S.ms ? fmtRatio(E.ms / S.ms) : '-');
log(
  table(
    ['model', 'batch', 'call', 'smoothgeo ms', 'tfjs ms', 'x sg', 'jax-js ms', 'x sg'],
    results.models.flatMap((r) =>
      OPS.map((op) => {
        const o = r.ops[op];
        return [
          r.model,
          r.batch,
          op,
          cellMs(o.smoothgeo),
          cellMs(o.tfjs),
          ratio(o.tfjs, o.smoothgeo),
          cellMs(o['jax-js']),
          ratio(o['jax-js'], o.smoothgeo),
        ];
      }),
    ),
    3,
  ),
);
log('   "x sg" = peer time / smoothgeo time (above 1: smoothgeo faster)');

// ---- per-kernel GPU time ----
{
  const c = await loadOracleCase('lenet');
  const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, 'lenet.safetensors')), {
    prefix: 'param.',
  });
  const B = BATCHES[BATCHES.length - 1];
  const { x, v, target } = makeBatch(c, B);
  const call = () => model.inputHvp(x, v, { kind: 'logit', target });
  await call(); // compiles
  const p = await engine.profile(call);
  log(`\n== engine.profile: one LeNet input HVP at batch ${B}`);
  if (!p.supported) log(`   not available: ${p.reason}`);
  else {
    results.profile = { batch: B, totalMs: p.totalMs, kernels: p.kernels };
    log(
      table(
        ['kernel', 'shapes', 'GPU ms'],
        p.kernels.map((k) => [k.label, k.shapes, k.ms.toFixed(3)]),
        2,
      ),
    );
    log(
      `   ${p.kernels.length} dispatches, ${p.totalMs.toFixed(3)} ms of GPU time in all (each dispatch in a pass of its own while profiling)`,
    );
  }
}

notes.print();
results.notes = notes.toJSON();
results.totalSeconds = (performance.now() - t0) / 1000;
if (exitCode) log('\nsmoothgeo FAILED a call or a check above (exit status 1)');
log(`\ncommand: ${command}   (${results.npmCommand}; ${results.totalSeconds.toFixed(0)} s)`);
writeReport(opts.json, results);
engine.dispose();
await releaseNodeWebGPU();
finish(exitCode);
