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
//  6. GEMM GFLOP/s on the ResNet-18 layers' implicit-GEMM shapes (50,176×64×576, 784×512×4,608,
//     64×576×50,176) against the fp32 peak.
//  7. Per-kernel GPU time (timestamps) of LeNet conv1 and conv2: forward, backward-input, backward-filter and
//     the bias channel sum at 800 and 16,000 images, and backward-filter / forward (goal: within 3×).
//  8. LeNet paramGradient at batch 64, and SmoothGrad-1000 at batch 16 with submission every 48 dispatches
//     (the default) and at the readback only: ms per call (goal: bound by the GPU, not the host).
//  9. The GEMM kernels side by side on one shape: main (64×64 tiles) and wide (128×128, 8×8 per thread) forced
//     through the backend at n = 256 and 512 (quick: 128 and 256), timed round robin in this process; the
//     dispatches, workgroups and threads of each, and whether their results agree to the bit (also on ResNet-18's
//     layer2 3×3 conv forward at batch 1, an implicit GEMM of gathered operands); and LeNet's
//     conv forward and backward-input with direct's weights staged in workgroup memory and not; and direct's
//     column groups (one of up to 16 channels, or groups of ≤ 8) on convolutions into 16 and 12 channels and
//     a dense layer into 10.
// --only gemm,conv,models,profile,shapes,reductions,submission,kernels runs only the sections named.
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
  median,
  Notes,
  parseBenchArgs,
  table,
  timeIt,
  timeReps,
  version,
  writeReport,
  rng,
} from './harness.mjs';
import { installNodeWebGPU, loadOracleCase, makePeers, ORACLE_DIR, releaseNodeWebGPU } from './peers.mjs';

const {
  values: opts,
  command,
  npmCommand,
} = parseBenchArgs('bench/gpu.mjs', {
  quick: { type: 'boolean', default: false },
  'peak-tflops': { type: 'string' },
  'peak-source': { type: 'string' },
  json: { type: 'string' },
  only: { type: 'string' },
});
const quick = opts.quick;
const SECTIONS = ['gemm', 'conv', 'models', 'profile', 'shapes', 'reductions', 'submission', 'kernels'];
const only = opts.only ? opts.only.split(',') : SECTIONS;
for (const o of only)
  if (!SECTIONS.includes(o)) {
    console.error(`bench/gpu.mjs: --only takes ${SECTIONS.join(',')}; got '${o}'`);
    process.exit(2);
  }
const section = (name) => only.includes(name);
/** ResNet-18's implicit GEMMs (M×N×K): layer1 forward at batch 16, layer4 forward at 16, layer1 filter gradient. */
const RESNET_GEMMS = quick
  ? [
      [3136, 64, 576],
      [196, 128, 1152],
      [64, 144, 3136],
    ]
  : [
      [50176, 64, 576],
      [784, 512, 4608],
      [64, 576, 50176],
    ];
/** LeNet's convolutions, and the image counts of the issue (quick: a check that the script runs). */
const LENET_CONVS = [
  { name: 'conv1', c: 1, hw: 28, o: 6, k: 5, stride: 1, pad: 0 },
  { name: 'conv2', c: 6, hw: 12, o: 16, k: 5, stride: 1, pad: 0 },
];
const IMAGES = quick ? [8, 40] : [800, 16000];
const SMOOTHGRAD = quick ? { batch: 2, samples: 20 } : { batch: 16, samples: 1000 };
const PARAM_BATCH = quick ? 4 : 64;

const GEMM_SIZES = quick ? [128, 256] : [1024, 2048, 4096];
/** Sizes of the kernel comparison (section 9): small enough for SwiftShader, where it was measured. */
const KERNEL_SIZES = quick ? [128, 256] : [256, 512];
const GEMM_KERNELS = ['main', 'wide'];
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
  shapes: [],
  reductions: [],
  submission: [],
  kernels: [],
  stagedWeights: [],
  notes: {},
  totalSeconds: 0,
};

// ---- GEMM ----
if (section('gemm')) {
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
}

// ---- conv2d ----
if (section('conv')) {
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
}

// ---- models ----
if (section('models')) {
  log(`\n== LeNet and MLP: median ms per call (upload + readback), SmoothGrad with ${SAMPLES} samples (σ = 0.15)`);
  const LIBS = ['smoothgeo', 'tfjs', 'jax-js'];
  const OPS = ['gradient', 'hvp', `smoothGrad-${SAMPLES}`];
  for (const name of ['lenet', 'mlp']) {
    const c = await loadOracleCase(name);
    const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, `${name}.safetensors`)), {
      prefix: 'param.',
    });
    const peers = await makePeers(c.model, c.weights);
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
}

// ---- per-kernel GPU time ----
if (section('profile')) {
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

// ---- ResNet-18 GEMM shapes ----
if (section('shapes')) {
  log('\n== GEMM on ResNet-18 layer shapes M×N×K (2MNK flops; R products back to back, one readback)');
  for (const [M, N, K] of RESNET_GEMMS) {
    const row = { M, N, K };
    try {
      const g = await kernels.prepareGemmShape(engine, M, N, K);
      try {
        await g.run(1); // compiles; untimed
        const t = performance.now();
        await g.run(1);
        const R = Math.max(1, Math.min(REPS.maxR, Math.round(REPS.targetMs / (performance.now() - t))));
        const ms = await timeReps((r) => g.run(r), R, { repeats: REPS.repeats, budgetMs: REPS.budgetMs, warm: R > 1 });
        Object.assign(row, { R, msEach: ms / R, gflops: (g.flops * R) / (ms * 1e6) });
      } finally {
        g.release();
      }
    } catch (e) {
      row.error = errText(e);
      exitCode = 1;
    }
    results.shapes.push(row);
  }
  log(
    table(
      ['M×N×K', 'R', 'ms each', 'GFLOP/s', 'of peak'],
      results.shapes.map((r) =>
        r.error
          ? [`${r.M}×${r.N}×${r.K}`, '-', `FAIL[${notes.note(r.error)}]`, '-', '-']
          : [`${r.M}×${r.N}×${r.K}`, r.R, r.msEach.toFixed(3), r.gflops.toFixed(1), ofPeak(r.gflops)],
      ),
    ),
  );
}

// ---- long reductions: LeNet conv passes and channel sums at many images ----
if (section('reductions')) {
  log(`\n== LeNet convolutions at ${IMAGES.join(' and ')} images: GPU ms of each dispatch (timestamps)`);
  for (const conv of LENET_CONVS)
    for (const n of IMAGES) {
      const row = { conv: conv.name, images: n };
      try {
        const p = await kernels.profileConvPasses(engine, { n, ...conv });
        Object.assign(row, p);
      } catch (e) {
        row.error = errText(e);
        exitCode = 1;
      }
      results.reductions.push(row);
      if (row.error) log(`   ${conv.name} at ${n} images: FAIL[${notes.note(row.error)}]`);
      else if (row.unsupported) log(`   ${conv.name} at ${n} images: not timed (${row.unsupported})`);
      else {
        const sum = (re) => row.kernels.filter((k) => re.test(k.label)).reduce((s, k) => s + k.ms, 0);
        const fwd = sum(/^conv2d forward/),
          filter = sum(/^conv2d backward filter/);
        log(
          `   ${conv.name}, ${n} images (${row.label}): backward-filter / forward = ${fwd > 0 ? (filter / fwd).toFixed(2) : '-'}×`,
        );
        log(
          table(
            ['kernel', 'GPU ms'],
            row.kernels.map((k) => [k.label, k.ms.toFixed(4)]),
            1,
          ),
        );
      }
    }
}

// ---- submission and parameter gradients ----
/**
 * Variants of one computation timed in turn on this engine: `select(v)` switches to variant v, `run(R)` runs
 * the computation R times back to back and returns the last result. Each variant first runs once untimed
 * (it compiles) for its result; then REPS.repeats rounds, the variants in turn, R calls each: `reps`, or
 * with 'calibrate' as many as fill REPS.targetMs after a second untimed call (≤ REPS.maxR). Returns the
 * median ms a call of each variant and whether every result has the first variant's bits (if not, the run
 * fails).
 * @param {(string|number)[]} variants
 * @param {(v: any) => Promise<unknown>} select
 * @param {(R: number) => Promise<Float32Array>} run
 * @param {number | 'calibrate'} reps
 */
async function timeVariants(variants, select, run, reps) {
  /** @type {Record<string, { R: number, ms: number[], got: Float32Array }>} */
  const per = {};
  for (const v of variants) {
    await select(v);
    const got = await run(1); // compiles; untimed
    let R = typeof reps === 'number' ? reps : 1;
    if (reps === 'calibrate') {
      const t = performance.now();
      await run(1);
      R = Math.max(1, Math.min(REPS.maxR, Math.round(REPS.targetMs / (performance.now() - t))));
    }
    per[v] = { R, ms: [], got };
  }
  for (let round = 0; round < REPS.repeats; round++)
    for (const v of variants) {
      await select(v);
      const t = performance.now();
      await run(per[v].R);
      per[v].ms.push((performance.now() - t) / per[v].R);
    }
  const first = new Uint32Array(per[variants[0]].got.buffer);
  const same = variants.every((v) => new Uint32Array(per[v].got.buffer).every((x, i) => x === first[i]));
  if (!same) exitCode = 1;
  return { ms: Object.fromEntries(variants.map((v) => [v, median(per[v].ms)])), same };
}

if (section('kernels')) {
  log(`\n== GEMM kernels on one shape (forced; round robin, ${REPS.repeats} rounds, the median of each)`);
  const rows = [];
  /** The GEMM kernels forced in turn on `run`, an M×N×K product of `flops`: a row per kernel. */
  const kernelRows = async (name, M, N, K, flops, run, reps) => {
    const was = await kernels.setGemmKernel(engine, null);
    try {
      const { ms, same } = await timeVariants(GEMM_KERNELS, (k) => kernels.setGemmKernel(engine, k), run, reps);
      for (const k of GEMM_KERNELS) {
        await kernels.setGemmKernel(engine, k);
        const plan = await kernels.gemmDispatches(engine, M, N, K);
        rows.push({ n: name, kernel: k, msEach: ms[k], gflops: flops / (ms[k] * 1e6), ...plan, bitwiseSame: same });
      }
    } finally {
      await kernels.setGemmKernel(engine, was);
    }
  };
  for (const n of KERNEL_SIZES) {
    const r = rng(0x5eed + n);
    const a = Float32Array.from({ length: n * n }, () => r()),
      b = Float32Array.from({ length: n * n }, () => r() / Math.sqrt(n));
    const g = await kernels.prepareGemm(engine, n, a, b);
    try {
      await kernelRows(n, n, n, n, 2 * n ** 3, (R) => g.run(R), 'calibrate');
    } finally {
      g.release();
    }
  }
  // A convolution (gathered operands) on both: ResNet-18's layer2 3×3 conv at batch 1 (quick: smaller).
  const kconv = quick
    ? { n: 1, c: 16, hw: 16, o: 128, k: 3, stride: 1, pad: 1 }
    : { n: 1, c: 128, hw: 28, o: 128, k: 3, stride: 1, pad: 1 };
  {
    const cc = await kernels.prepareConv(engine, kconv);
    try {
      const oh = kconv.hw; // stride 1, pad 1, 3×3
      const [M, N, K] = [kconv.n * oh * oh, kconv.o, kconv.c * kconv.k * kconv.k];
      await kernelRows(`conv ${M}×${N}×${K}`, M, N, K, cc.flops, (R) => cc.run('forward', R), 2);
    } finally {
      cc.release();
    }
  }
  results.kernels = rows;
  // direct's staged weights on LeNet's convolutions (forward and backward-input), on and off, round robin.
  const staged = [];
  const images = quick ? 8 : 256;
  for (const cv of LENET_CONVS) {
    const cc = await kernels.prepareConv(engine, {
      n: images,
      c: cv.c,
      hw: cv.hw,
      o: cv.o,
      k: cv.k,
      stride: 1,
      pad: 0,
    });
    try {
      for (const pass of ['forward', 'backwardInput']) {
        const { ms, same } = await timeVariants(
          ['on', 'off'],
          (mode) => kernels.setPlanOption(engine, 'stageWeights', mode === 'on'),
          (R) => cc.run(pass, R),
          8,
        );
        staged.push({ conv: cv.name, images, pass, msStaged: ms.on, msUnstaged: ms.off, bitwiseSame: same });
      }
    } finally {
      await kernels.setPlanOption(engine, 'stageWeights', null);
      cc.release();
    }
  }
  results.stagedWeights = staged;
  // direct's column groups for N = 9…16: one group of N (the default) or two of ≤ 8, round robin on
  // convolutions into 16 and 12 channels and a dense layer into 10 (same bits expected).
  const grouped = [];
  const gImages = quick ? 8 : 256;
  const groupCases = [
    {
      name: `conv 6→16 5×5, 12², ${gImages} images`,
      conv: { n: gImages, c: 6, hw: 12, o: 16, k: 5, stride: 1, pad: 0 },
    },
    {
      name: `conv 6→12 5×5, 12², ${gImages} images`,
      conv: { n: gImages, c: 6, hw: 12, o: 12, k: 5, stride: 1, pad: 0 },
    },
    { name: `dense ${gImages * 16}×10×84`, gemm: [gImages * 16, 10, 84] },
  ];
  for (const gc of groupCases) {
    const cc = gc.conv
      ? await kernels.prepareConv(engine, gc.conv)
      : await kernels.prepareGemmShape(engine, ...gc.gemm);
    try {
      const { ms, same } = await timeVariants(
        [8, 16],
        (cols) => kernels.setPlanOption(engine, 'groupColumns', cols),
        (R) => (gc.conv ? cc.run('forward', R) : cc.run(R)),
        8,
      );
      grouped.push({ case: gc.name, ms8: ms[8], ms16: ms[16], bitwiseSame: same });
    } finally {
      await kernels.setPlanOption(engine, 'groupColumns', null);
      cc.release();
    }
  }
  results.groupColumns = grouped;
  log(
    table(
      ['direct forward', 'ms, groups of ≤ 8', 'ms, one group of 16', '8 / 16', 'same bits'],
      grouped.map((r) => [
        r.case,
        r.ms8.toFixed(3),
        r.ms16.toFixed(3),
        (r.ms8 / r.ms16).toFixed(2),
        r.bitwiseSame ? 'yes' : 'NO',
      ]),
    ),
  );
  log(
    table(
      ['conv', 'images', 'pass', 'ms staged', 'ms unstaged', 'unstaged / staged', 'same bits'],
      staged.map((r) => [
        r.conv,
        r.images,
        r.pass,
        r.msStaged.toFixed(3),
        r.msUnstaged.toFixed(3),
        (r.msUnstaged / r.msStaged).toFixed(2),
        r.bitwiseSame ? 'yes' : 'NO',
      ]),
    ),
  );
  log(
    table(
      ['n', 'kernel', 'ms each', 'GFLOP/s', 'of peak', 'dispatches', 'workgroups', 'threads', 'same bits'],
      rows.map((r) => [
        r.n,
        r.kernel,
        r.msEach.toFixed(3),
        r.gflops.toFixed(1),
        ofPeak(r.gflops),
        r.dispatches,
        r.workgroups,
        r.threads,
        r.bitwiseSame ? 'yes' : 'NO',
      ]),
    ),
  );
}

if (section('submission')) {
  const c = await loadOracleCase('lenet');
  const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, 'lenet.safetensors')), {
    prefix: 'param.',
  });
  const { batch, samples } = SMOOTHGRAD;
  log(
    `\n== LeNet: paramGradient at batch ${PARAM_BATCH}; SmoothGrad-${samples} at batch ${batch}, submitting every 48 dispatches or only at the readback`,
  );
  const rows = [];
  {
    const { x, target } = makeBatch(c, PARAM_BATCH);
    rows.push({
      call: `paramGradient, batch ${PARAM_BATCH}`,
      ms: await timeIt(() => model.paramGradient(x, { kind: 'logit', target }), TIMING),
    });
  }
  const { x, target } = makeBatch(c, batch);
  const sg = () => smoothGrad(model, x, { target, sigma: 0.15, samples, seed: 1 });
  const was = await kernels.setSubmitEvery(engine, 48);
  try {
    for (const every of [48, 0]) {
      await kernels.setSubmitEvery(engine, every);
      rows.push({
        call: `smoothGrad-${samples}, batch ${batch}, ${every ? `submit every ${every} dispatches` : 'one submit at the readback'}`,
        ms: await timeIt(sg, { ...TIMING, minRuns: quick ? 2 : 3, maxRuns: quick ? 3 : 10 }),
      });
    }
  } finally {
    await kernels.setSubmitEvery(engine, was);
  }
  results.submission = rows;
  log(
    table(
      ['call', 'ms per call'],
      rows.map((r) => [r.call, fmtMs(r.ms)]),
      1,
    ),
  );
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
