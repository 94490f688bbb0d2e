// SmoothGrad benchmark: smoothgeo against TensorFlow.js (webgpu backend) and jax-js (webgpu device), in one
// Node process on one WebGPU adapter (the GPU object that installNodeWebGPU() puts at navigator.gpu serves
// all three; each library opens its own device on it), on the oracle LeNet (σ = 0.15, logit of the oracle's
// target class).
//
//   npm run bench:smoothgrad [-- --full] [-- --json out/smoothgrad.json]
//   (= node build.mjs && node scripts/gpu-env.mjs node bench/smoothgrad.mjs [--full] [--json FILE])
//
// Configurations: N = 50 and 1000 noise samples per example, batch B = 1 and 16 (B = 16 tiles the oracle's two
// inputs and perturbs the copies deterministically, as bench/run.mjs does; examples 0 and 1 are the oracle's).
// By default N = 1000 × B = 16 is skipped (16,000 LeNet gradients per call and library: many minutes on a
// software adapter); --full runs it.
//
// Each library, per configuration (every timed call uploads x and reads the [B, 1, 28, 28] map back):
//  - smoothgeo: smoothGrad(model, x, { target, sigma, samples: N, seed }) with the default memory budget
//    (noise made in-kernel, samples in chunks, one readback); reports its chunk size and chunk count.
//  - tfjs: the usual recipe: x tiled N times + tf.randomNormal noise as one [N·B, …] batch, tf.grad of the
//    summed target logits, mean over N (peers.mjs; tfjs 4.22 draws randomNormal on the CPU and uploads it).
//  - jax-js 'vmap': vmap(grad(objective)) over the N noisy samples (noise: jax.random.normal on the device).
//    jax-js 0.1.25 has no vmap rule for the pooling primitive, so this fails on LeNet with jax-js's own error;
//    it is tried once and that error is reported for every configuration.
//  - jax-js 'batched': the same computation without vmap: one grad over the [N·B, …] batch, as tfjs does.
//
// Throughput: explanations/s = B / (median seconds per call). "ratio" on smoothgeo's row is our throughput
// over the faster peer's; on a peer's row, our throughput over that peer's (above 1: smoothgeo faster).
//
// Memory, two measures:
//  - "lib MiB": the library's own accounting, peak during a warm timed call. smoothgeo:
//    engine.memory().peakBytes after engine.resetPeakMemory() (bytes of GPU buffers its pool holds, in use or
//    pooled for reuse). Each configuration gets a fresh engine (and model), so buffers pooled by an earlier,
//    larger configuration do not count. tfjs: the peak of tf.memory().numBytesInGPU (bytes in use by
//    tensors) during the call, observed by sampling it at every buffer acquisition of tfjs's buffer manager
//    (tfjs has no peak counter; the JSON also has numBytesInGPU right after the gradient, before dispose, and
//    numBytesAllocatedInGPU, its pool). jax-js: it reports nothing; this is the peak of the bytes of its live
//    arrays' buffers (its slot table), observed by wrapping WebGPUBackend's malloc/decRef ('n/a' if that fails).
//  - "device MiB": one method for all three: bytes of the GPU buffers each library's GPUDevice holds (created,
//    not destroyed; pools included), at the peak during the call, observed by wrapping
//    GPUDevice.prototype.createBuffer and GPUBuffer.prototype.destroy. The peers keep one device for the whole
//    run, so theirs includes buffers pooled by earlier configurations (configurations run smallest first).
//
// Agreement: maps from different random noise differ, so each library's SmoothGrad of the oracle's two
// examples at N = 1000 is compared with the oracle's Monte Carlo expectation `smoothgrad_sigma0.15_expect`
// (cosine similarity; the oracle README: above 0.99 at 4096 samples). Each timed configuration also prints
// the peer's cosine with our map (same x, different noise). The agreement check runs after the timed
// configurations.
//
// Options: --full (also N = 1000 × B = 16), --json FILE (also write every number).
// The exit status is 1 when a smoothgeo call fails or its oracle cosine is below 0.98.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  errText,
  finish,
  fmtRate,
  fmtRatio,
  importSmoothgeo,
  ROOT,
  log,
  makeBatch as makeOracleBatch,
  Notes,
  parseBenchArgs,
  table,
  version,
  writeReport,
} from './harness.mjs';
import {
  installNodeWebGPU,
  releaseNodeWebGPU,
  loadOracleCase,
  makeTfjsPeer,
  makeJaxPeer,
  timeIt,
  ORACLE_DIR,
} from './peers.mjs';

// ---- options ----
const {
  values: opts,
  command,
  npmCommand,
} = parseBenchArgs('bench/smoothgrad.mjs', {
  full: { type: 'boolean', default: false },
  json: { type: 'string' },
});
const full = opts.full;
const jsonPath = opts.json;

const SIGMA = 0.15;
const CHECK_N = 1000;
const COS_MIN = 0.98; // below this our oracle cosine fails the run (at N = 1000 it is about 0.999)
const CONFIGS = [
  [50, 1],
  [50, 16],
  [1000, 1],
  [1000, 16],
].map(([N, B]) => ({ N, B, skipped: !full && N === 1000 && B === 16 }));
/** timeIt settings: light calls (N·B ≤ 2000) get at least 3 timed runs; heavy ones 2. One untimed warmup each. */
const timingFor = (N, B) =>
  N * B <= 2000 ? { warmup: 1, minRuns: 3, minMs: 4000, maxRuns: 15 } : { warmup: 1, minRuns: 2, minMs: 0, maxRuns: 2 };
const SEED = 1234;

const t0 = performance.now();
const MiB = (b) => (b == null ? 'n/a' : (b / 2 ** 20).toFixed(1));
const fmtS = (ms) => (ms == null ? '-' : (ms / 1000).toFixed(ms >= 10000 ? 1 : 2));
const cosine = (a, b) => {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb || 1);
};

let exitCode = 0;

// ---- device-level memory and error tracking (before any library opens a device) ----
const webgpu = await import('webgpu');
for (const [k, v] of Object.entries(webgpu.globals)) if (!(k in globalThis)) /** @type {any} */ (globalThis)[k] = v;
/** Owner label for the next device that is created. */
let owner = '?';
/** @type {Map<string, { device: any, held: number, peak: number, errors: string[] }>} */
const devs = new Map();
/** @type {WeakMap<any, { rec: any, size: number }>} */
const bufs = new WeakMap();
/** @type {WeakMap<any, any>} */
const recOf = new WeakMap();
{
  const { GPUAdapter, GPUDevice, GPUBuffer } = /** @type {any} */ (webgpu.globals);
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...a) {
    const device = await requestDevice.apply(this, a);
    const rec = { device, held: 0, peak: 0, errors: [] };
    devs.set(owner, rec); // the latest device of each owner (smoothgeo opens one per configuration)
    recOf.set(device, rec);
    device.addEventListener('uncapturederror', (ev) => {
      rec.errors.push(String(ev?.error?.message ?? ev?.error ?? ev).split('\n')[0]);
    });
    return device;
  };
  const createBuffer = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (desc) {
    const b = createBuffer.call(this, desc);
    const rec = recOf.get(this);
    if (rec && b) {
      bufs.set(b, { rec, size: b.size });
      rec.held += b.size;
      rec.peak = Math.max(rec.peak, rec.held);
    }
    return b;
  };
  const destroy = GPUBuffer.prototype.destroy;
  GPUBuffer.prototype.destroy = function (...a) {
    const info = bufs.get(this);
    if (info) {
      bufs.delete(this);
      info.rec.held -= info.size;
    }
    return destroy.apply(this, a);
  };
}

// ---- one GPU for all three ----
owner = 'peers-probe';
const peerAdapter = await installNodeWebGPU();
const gpu = /** @type {any} */ (globalThis).navigator.gpu;
const { createEngine, loadModel, smoothGrad } = await importSmoothgeo();
/** A fresh engine and model (one per configuration, so the pool holds only that configuration's buffers). */
async function freshOurs() {
  owner = 'smoothgeo';
  const engine = await createEngine({ backend: 'webgpu', gpu, powerPreference: 'high-performance' });
  owner = '?';
  const model = await loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, 'lenet.safetensors')), {
    prefix: 'param.',
  });
  return { engine, model };
}
const c = await loadOracleCase('lenet');
let ours = await freshOurs();
const engine = ours.engine; // for the adapter description only (disposed with the first configuration)
const adapterSummary = engine.adapter,
  describe = engine.describe();
const tf = await import('@tensorflow/tfjs'); // only now: tfjs-backend-webgpu registers itself if navigator.gpu exists

log(
  `smoothgeo SmoothGrad bench (${full ? 'full' : 'default'}) — node ${process.versions.node}, tfjs ${version('@tensorflow/tfjs')}, ` +
    `tfjs-backend-webgpu ${version('@tensorflow/tfjs-backend-webgpu')}, jax-js ${version('@jax-js/jax')}`,
);
log(`adapter: ${describe}`);
const same =
  [peerAdapter.vendor, peerAdapter.architecture, peerAdapter.description].join('/') ===
  [adapterSummary.vendor, adapterSummary.architecture, adapterSummary.description].join('/');
log(
  `peers' adapter (navigator.gpu, same GPU object): ${peerAdapter.vendor} / ${peerAdapter.architecture} / ${peerAdapter.description}` +
    (same ? '' : '  <-- DIFFERENT from ours'),
);
if (adapterSummary.software)
  log('WARNING: this is a software (CPU) WebGPU adapter: the numbers below say little about real GPUs.');

// ---- model, peers ----
const expect = c.tensors.get('smoothgrad_sigma0.15_expect');
/** @type {Record<string, any>} */
const peers = {};
for (const [lib, make] of /** @type {[string, typeof makeTfjsPeer][]} */ ([
  ['tfjs', makeTfjsPeer],
  ['jax-js', makeJaxPeer],
])) {
  owner = lib;
  try {
    peers[lib] = await make(c.model, c.weights);
  } catch (e) {
    peers[lib] = { error: errText(e) };
  }
}
owner = '?';
const devRec = (lib) => devs.get(lib) ?? null;

/** jax-js: bytes of live arrays' buffers, by wrapping its WebGPUBackend's malloc / decRef (prototype, same module). */
const jaxMem = { ok: false, live: 0, peak: 0, error: null };
if (!peers['jax-js'].error) {
  try {
    const dir = join(ROOT, 'node_modules', '@jax-js', 'jax', 'dist');
    const file = readdirSync(dir).find((n) => /^webgpu-[\w-]+\.js$/.test(n));
    if (!file) throw new Error('no webgpu-*.js chunk in @jax-js/jax/dist');
    const P = (await import(pathToFileURL(join(dir, file)).href)).WebGPUBackend?.prototype;
    if (typeof P?.malloc !== 'function' || typeof P?.decRef !== 'function')
      throw new Error('WebGPUBackend.malloc/decRef not found');
    const malloc = P.malloc,
      decRef = P.decRef;
    P.malloc = function (size, ...rest) {
      const slot = malloc.call(this, size, ...rest);
      const e = size > 0 ? this.buffers?.get(slot) : null;
      if (e) {
        jaxMem.live += e.allocatedSize;
        jaxMem.peak = Math.max(jaxMem.peak, jaxMem.live);
      }
      return slot;
    };
    P.decRef = function (slot, ...rest) {
      const e = this.buffers?.get(slot);
      const r = decRef.call(this, slot, ...rest);
      if (e && e.size > 0 && !this.buffers.has(slot)) jaxMem.live -= e.allocatedSize;
      return r;
    };
    jaxMem.ok = true;
  } catch (e) {
    jaxMem.error = errText(e);
  }
}

/** tfjs: peak numBytesInGPU during a call, sampled at every buffer acquisition of its buffer manager. */
const tfPeak = { on: false, peak: 0 };
if (!peers.tfjs.error) {
  const bm = /** @type {any} */ (tf.backend()).bufferManager;
  if (bm && typeof bm.acquireBuffer === 'function') {
    const acquire = bm.acquireBuffer.bind(bm);
    bm.acquireBuffer = (...a) => {
      const b = acquire(...a);
      if (tfPeak.on) tfPeak.peak = Math.max(tfPeak.peak, /** @type {any} */ (tf.memory()).numBytesInGPU ?? 0);
      return b;
    };
  }
}

const LIBS = ['smoothgeo', 'tfjs', 'jax-js vmap', 'jax-js batched'];
const PEERS = LIBS.slice(1);
/** Structural failures (same for every size): jax-js vmap's missing rule. lib -> error text. */
const stickyFail = new Map();

/**
 * One SmoothGrad call per library. Returns { data, chunkSize?, chunks?, libPeak?, tf? }.
 * @param {string} lib
 */
function caller(lib, x, target, N) {
  if (lib === 'smoothgeo') {
    return async () => {
      const r = await smoothGrad(ours.model, x, { target, sigma: SIGMA, samples: N, seed: SEED });
      return { data: r.attributions.data, chunkSize: r.chunkSize, chunks: r.chunks };
    };
  }
  if (lib === 'tfjs') {
    const p = peers.tfjs;
    return async () => {
      let afterGrad = null;
      const data = await p.smoothGrad(x, target, SIGMA, N, {
        seed: SEED,
        afterGrad: () => {
          afterGrad = tf.memory();
        },
      });
      return { data, tf: { afterGrad, after: tf.memory() } };
    };
  }
  const p = peers['jax-js'];
  const mode = lib === 'jax-js vmap' ? 'vmap' : 'batched';
  return async () => ({ data: await p.smoothGrad(x, target, SIGMA, N, { seed: SEED, mode }) });
}
const peerOf = (lib) => (lib.startsWith('jax-js') ? peers['jax-js'] : lib === 'tfjs' ? peers.tfjs : null);

/**
 * Runs fn once with memory tracking; throws the device's uncaptured WebGPU errors (which the libraries
 * would otherwise swallow, returning garbage) as the call's error.
 */
async function tracked(lib, fn) {
  const dev = devRec(lib.startsWith('jax-js') ? 'jax-js' : lib);
  if (dev) {
    dev.peak = dev.held;
    dev.errors.length = 0;
  }
  if (lib === 'smoothgeo') ours.engine.resetPeakMemory();
  if (lib === 'tfjs') {
    tfPeak.on = true;
    tfPeak.peak = /** @type {any} */ (tf.memory()).numBytesInGPU ?? 0;
  }
  if (lib.startsWith('jax-js')) jaxMem.peak = jaxMem.live;
  try {
    const out = await fn();
    if (dev?.errors.length)
      throw new Error(
        `WebGPU error on ${lib}'s device: ${dev.errors[0]}${dev.errors.length > 1 ? ` (+${dev.errors.length - 1} more)` : ''}`,
      );
    const nonFinite = out.data.findIndex((v) => !Number.isFinite(v));
    if (nonFinite >= 0) throw new Error(`${lib} returned a non-finite value at index ${nonFinite}`);
    out.devicePeak = dev ? dev.peak : null;
    out.libPeak =
      lib === 'smoothgeo'
        ? (ours.engine.memory()?.peakBytes ?? null)
        : lib === 'tfjs'
          ? tfPeak.peak
          : jaxMem.ok
            ? jaxMem.peak
            : null;
    return out;
  } finally {
    tfPeak.on = false;
  }
}

// ---- deterministic batch-B inputs (as bench/run.mjs) ----
/** Batch B of the oracle LeNet's inputs (bench/harness.mjs makeBatch, x only). @param {number} B */
const makeBatch = (B) => {
  const { x, target } = makeOracleBatch(c, B);
  return { x, target };
};

const results = {
  command,
  npmCommand: npmCommand('bench:smoothgrad'),
  full,
  date: new Date().toISOString(),
  node: process.versions.node,
  versions: {
    tfjs: version('@tensorflow/tfjs'),
    tfjsWebgpu: version('@tensorflow/tfjs-backend-webgpu'),
    jaxjs: version('@jax-js/jax'),
  },
  adapter: adapterSummary,
  describe,
  peerAdapter,
  sigma: SIGMA,
  seed: SEED,
  jaxMemoryHook: jaxMem.ok ? 'ok' : jaxMem.error,
  timing: {
    light: timingFor(1, 1),
    heavy: timingFor(1000, 16),
    unit: 'median ms per call, upload and readback included',
  },
  peersError: Object.fromEntries(
    Object.entries(peers)
      .filter(([, p]) => p.error)
      .map(([k, p]) => [k, p.error]),
  ),
  check: /** @type {Record<string, any>} */ ({}),
  configs: /** @type {any[]} */ ([]),
};
for (const [lib, p] of Object.entries(peers)) if (p.error) log(`${lib} cannot start: ${p.error}`);

// ---- timed configurations ----
for (const cfg of CONFIGS) {
  const { N, B } = cfg;
  const row = { N, B, skipped: cfg.skipped, libs: /** @type {Record<string, any>} */ ({}) };
  results.configs.push(row);
  if (cfg.skipped) continue;
  const { x, target } = makeBatch(B);
  const timing = timingFor(N, B);
  log(`\n== N = ${N}, B = ${B} (${N * B} gradients per call; ${timing.warmup} warmup, ≥${timing.minRuns} timed runs)`);
  if (!ours) ours = await freshOurs();
  let oursMap = null;
  for (const lib of LIBS) {
    const entry = (row.libs[lib] = /** @type {Record<string, any>} */ ({
      ms: null,
      perSecond: null,
      runs: null,
      firstCallMs: null,
      error: null,
    }));
    const p = peerOf(lib);
    try {
      if (p?.error) throw new Error(`cannot start: ${p.error}`);
      if (stickyFail.has(lib)) throw new Error(stickyFail.get(lib));
      const fn = caller(lib, x, target, N);
      // First call (untimed: shader compilation) with tracking; its result is the one checked.
      const tFirst = performance.now();
      const first = await tracked(lib, fn);
      entry.firstCallMs = performance.now() - tFirst;
      if (lib === 'smoothgeo') {
        oursMap = first.data;
        entry.chunkSize = first.chunkSize;
        entry.chunks = first.chunks;
      } else if (oursMap) entry.cosineVsSmoothgeo = cosine(first.data, oursMap);
      // Timed calls; the memory numbers are from the last one (a warm call).
      let runs = 0;
      /** @type {any} */
      let last = null;
      entry.ms = await timeIt(
        async () => {
          runs++;
          last = await tracked(lib, fn);
        },
        { ...timing, warmup: Math.max(0, timing.warmup - 1) },
      );
      entry.runs = runs - Math.max(0, timing.warmup - 1);
      entry.perSecond = B / (entry.ms / 1000);
      entry.libPeakBytes = last.libPeak;
      entry.devicePeakBytes = last.devicePeak;
      if (lib === 'tfjs') {
        entry.tfMemoryAfterGrad = last.tf.afterGrad; // tf.memory() right after the gradient, before dispose
        entry.tfMemoryAfterCall = last.tf.after;
      }
      const chk =
        lib === 'smoothgeo'
          ? `chunks ${entry.chunks} × ${entry.chunkSize} samples`
          : `cosine vs smoothgeo ${entry.cosineVsSmoothgeo?.toFixed(4) ?? '-'}`;
      log(
        `  ${lib.padEnd(15)} ${fmtS(entry.ms).padStart(7)} s/call  ${fmtRate(entry.perSecond).padStart(7)} expl/s  ` +
          `(${entry.runs} runs, first call ${fmtS(entry.firstCallMs)} s)  lib peak ${MiB(entry.libPeakBytes)} MiB, device peak ${MiB(entry.devicePeakBytes)} MiB  ${chk}`,
      );
    } catch (e) {
      entry.error = errText(e);
      if (lib === 'smoothgeo') exitCode = 1;
      if (lib === 'jax-js vmap' && /No vmap rule/.test(entry.error)) stickyFail.set(lib, e.message);
      log(`  ${lib.padEnd(15)} FAILS: ${entry.error}`);
    }
  }
  ours.engine.dispose();
  ours = null;
  const peerRates = PEERS.map((l) => row.libs[l].perSecond).filter((v) => v != null);
  row.fasterPeer = peerRates.length ? PEERS.find((l) => row.libs[l].perSecond === Math.max(...peerRates)) : null;
  const s = row.libs.smoothgeo.perSecond;
  row.libs.smoothgeo.ratioVsFasterPeer = s != null && peerRates.length ? s / Math.max(...peerRates) : null;
  for (const l of PEERS)
    row.libs[l].smoothgeoOverThis = s != null && row.libs[l].perSecond ? s / row.libs[l].perSecond : null;
}

// ---- agreement with the oracle: the oracle's 2 examples at N = 1000 ----
{
  const x = c.tensors.get('x'),
    target = c.target,
    B = x.shape[0],
    d = x.data.length / B;
  if (!ours) ours = await freshOurs();
  log(
    `\n== agreement: cosine similarity with the oracle's E[∂logit/∂x] (smoothgrad_sigma0.15_expect, 32768-sample MC), ` +
      `B = ${B} oracle examples, N = ${CHECK_N}, σ = ${SIGMA}`,
  );
  for (const lib of LIBS) {
    const entry = (results.check[lib] = { cosine: null, perExample: null, error: null, ms: null });
    const p = peerOf(lib);
    try {
      if (p?.error) throw new Error(`cannot start: ${p.error}`);
      if (stickyFail.has(lib)) throw new Error(stickyFail.get(lib));
      const t = performance.now();
      const out = await tracked(lib, caller(lib, x, target, CHECK_N));
      entry.ms = performance.now() - t;
      entry.cosine = cosine(out.data, expect.data);
      entry.perExample = Array.from({ length: B }, (_, b) =>
        cosine(out.data.subarray(b * d, (b + 1) * d), expect.data.subarray(b * d, (b + 1) * d)),
      );
      if (lib === 'smoothgeo' && entry.cosine < COS_MIN) exitCode = 1;
      log(
        `  ${lib.padEnd(15)} cosine ${entry.cosine.toFixed(5)}  (per example ${entry.perExample.map((v) => v.toFixed(5)).join(', ')})` +
          `${entry.cosine < COS_MIN ? '  <-- LOW' : ''}  [first call ${fmtS(entry.ms)} s]`,
      );
    } catch (e) {
      entry.error = errText(e);
      if (lib === 'smoothgeo') exitCode = 1;
      if (lib === 'jax-js vmap' && /No vmap rule/.test(entry.error)) stickyFail.set(lib, e.message);
      log(`  ${lib.padEnd(15)} FAILS: ${entry.error}`);
    }
  }
}

// ---- summary ----
const notes = new Notes();
const note = (/** @type {string} */ text) => notes.note(text);
const rows = [];
for (const row of results.configs) {
  if (row.skipped) continue;
  for (const lib of LIBS) {
    const e = row.libs[lib];
    if (e.error) {
      rows.push([lib, row.B, row.N, `FAIL[${note(e.error)}]`, '', '', '', '', '', '']);
      continue;
    }
    const ratio = lib === 'smoothgeo' ? fmtRatio(e.ratioVsFasterPeer) : `(${fmtRatio(e.smoothgeoOverThis)})`;
    const chunking = lib === 'smoothgeo' ? `${e.chunks} x ${e.chunkSize}` : `1 x ${row.N} (all)`;
    rows.push([
      lib,
      row.B,
      row.N,
      fmtRate(e.perSecond),
      fmtS(e.ms),
      ratio,
      MiB(e.libPeakBytes),
      MiB(e.devicePeakBytes),
      chunking,
      e.runs,
    ]);
  }
}
log(`\n== Summary: SmoothGrad on the oracle LeNet, σ = ${SIGMA} — ${describe}`);
if (adapterSummary.software) log('   (software adapter: numbers say little about real GPUs)');
log(
  "   expl/s = B / median s per call (upload + readback included). ratio: smoothgeo row = our expl/s ÷ the faster peer's;",
);
log("   (peer rows) = our expl/s ÷ that peer's. lib MiB: peak during a warm call by the library's own accounting");
log(
  '   (smoothgeo: engine.memory().peakBytes, its pool included, fresh engine per configuration; tfjs: tf.memory().numBytesInGPU,',
);
log(
  "   in use only, sampled at each buffer acquisition; jax-js: bytes of live arrays, via its backend's malloc/decRef).",
);
log(
  "   device MiB: peak bytes of GPU buffers held by the library's GPUDevice (pools and earlier configurations included for",
);
log('   the peers). chunking: chunks x samples per example per chunk (peers: one batch of all N samples).\n');
log(table(['library', 'B', 'N', 'expl/s', 's/call', 'ratio', 'lib MiB', 'device MiB', 'chunking', 'runs'], rows, 1));
if (!full)
  log(
    '\nN = 1000 x B = 16 was not run on this software adapter (16,000 LeNet gradients per call and library: many minutes); --full runs it.',
  );
log(`\nagreement with the oracle (cosine with smoothgrad_sigma0.15_expect, its 2 examples, N = ${CHECK_N}):`);
for (const lib of LIBS) {
  const e = results.check[lib];
  log(
    `  ${lib.padEnd(15)} ${e.error ? `FAIL[${note(e.error)}]` : `${e.cosine.toFixed(5)} (per example ${e.perExample.map((v) => v.toFixed(5)).join(', ')})`}`,
  );
}
const tfRows = results.configs.filter((r) => !r.skipped && r.libs.tfjs?.tfMemoryAfterGrad);
if (tfRows.length) {
  log(
    '\ntfjs tf.memory() right after the gradient (before dispose) / pool after the call (numBytesAllocatedInGPU), MiB:',
  );
  for (const r of tfRows) {
    const m = r.libs.tfjs;
    log(
      `  B=${r.B} N=${r.N}: numBytesInGPU ${MiB(m.tfMemoryAfterGrad.numBytesInGPU)}, numBytesAllocatedInGPU ${MiB(m.tfMemoryAfterCall.numBytesAllocatedInGPU)}`,
    );
  }
}
notes.print();
results.notes = notes.toJSON();
results.totalSeconds = (performance.now() - t0) / 1000;
if (exitCode) log('\nsmoothgeo FAILED a call or its oracle check above (exit status 1)');
log(`\ncommand: ${command}   (${results.npmCommand}; ${results.totalSeconds.toFixed(0)} s)`);
writeReport(jsonPath, results);

for (const lib of ['tfjs', 'jax-js']) if (!peers[lib].error) peers[lib].dispose();
ours?.engine.dispose();
await releaseNodeWebGPU();
finish(exitCode);
