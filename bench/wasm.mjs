// WebAssembly benchmark: smoothgeo's wasm backend against TensorFlow.js's wasm backend (@tensorflow/tfjs-backend-wasm
// 4.22, its SIMD build; tfjs turns threads off in Node), in one Node process, on the oracle LeNet and MLP.
//
//   npm run bench:wasm [-- --quick] [-- --json out/wasm.json]   (= node build.mjs && node bench/wasm.mjs ...)
//   npm run bench                                              (bench/run.mjs ends with these tables)
//
// 1. The in-process wasm SIMD128 mul+add peak (bench/wasm-peak: the best of several loop shapes, 12 to 24 dependent
//    mul+add chains, unrolled, independent mul and add streams; best of many short runs, so that a machine shared
//    with other jobs still shows its uncontended rate), measured before and after the kernel rows. A kernel
//    faster than it is flagged: the peak loop would then not be this CPU's peak.
// 2. Kernel GFLOP/s of the wasm backend, one thread (Backend.matmul and the conv passes, packing included) as a
//    percentage of that peak: GEMMs of 256³ and 512³, LeNet's convolutions at 50 rows (SmoothGrad-50, B = 1).
//    Best of ≥ 60 calls over ≥ 0.5 s, for the same reason.
// 3. Per model: forward, input gradient, input HVP (B = 2), SmoothGrad-50 at B = 1 and B = 16: median ms per call
//    (every call uploads x and reads its result back) of smoothgeo with 1 and 2 threads and of tfjs, the three
//    timed in turn (round robin) so that load from other jobs falls on all of them alike; ratios tfjs/smoothgeo
//    (above 1: smoothgeo faster) and the 2-thread speedup, each the median of the per-round ratios. tfjs's HVP is
//    reverse-over-reverse tf.grad; through max pooling it fails ("gradient function not found for MaxPoolGrad"),
//    printed as a footnote. Our input HVP over our input gradient (1 thread, B = 2): the two alone in a round
//    robin of their own, the median of the per-round ratios.
// 4. SmoothGrad-50 on back-to-back calls (a batch job: explaining a dataset), 1 thread against 2: blocks of calls
//    on one engine (≥ 3 calls, ≥ 150 ms), the engines alternating, the first call of each block not counted. In the round
//    robin of 3. the 2-thread engine's worker has been idle for a whole tfjs call before each of its calls, and
//    on a virtual machine an idle virtual CPU can take from 50 µs to milliseconds to run again (see
//    src/backend/wasm/threads.ts); here it is busy, as in a loop over many inputs.
// 5. What a fork costs on this machine: the time from publishing an empty kernel to the 2-thread pool's worker
//    having run it, after the process idled 0 to 300 ms (median and max of 15). A worker spins 2 ms after its
//    last chunk, then sleeps; after that its wake-up is the operating system's (and on a virtual machine the
//    hypervisor's) to give. The round robin's 2-thread calls start with such a wake-up.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  errText,
  fmtRatio,
  importSmoothgeo,
  log,
  makeBatch,
  median,
  Notes,
  parseBenchArgs,
  ROOT,
  table,
  version,
  writeReport,
} from './harness.mjs';
import { loadOracleCase, makeTfjsPeer } from './peers.mjs';
import { measurePeak } from './wasm-peak/index.mjs';

const fmt = (v, d = 2) => (typeof v === 'number' ? v.toFixed(d) : String(v));
const ORACLE = join(ROOT, 'test', 'fixtures', 'oracle');

/** xorshift32 in [-1, 1). */
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

const convGeom = (n, c, h, w, o, k) => ({
  n,
  c,
  h,
  w,
  o,
  kh: k,
  kw: k,
  sh: 1,
  sw: 1,
  ph: 0,
  pw: 0,
  dh: 1,
  dw: 1,
  groups: 1,
  oh: h - k + 1,
  ow: w - k + 1,
});

/**
 * The median over rounds of a[r] / b[r]: times taken a few ms apart see the same machine, so a slow spell
 * of the host cancels out.
 * @param {number[]} a @param {number[]} b
 */
const pairedRatio = (a, b) => median(a.map((v, r) => v / b[r]));

/**
 * Median ms per call of each function, called in turn (fns[0], fns[1], …, fns[0], …) after `warmup` rounds, for
 * at least `minRuns` rounds and until `minMs` have passed. A function that throws is timed no further; its
 * entry is the error. `ratio(i, j)`: the pairedRatio of fns[i]'s and fns[j]'s times round by round.
 * @param {(() => Promise<unknown>)[]} fns
 */
async function timeRoundRobin(fns, { warmup = 2, minRuns = 7, minMs = 1500, maxRuns = 400 } = {}) {
  /** @type {(number[] | Error)[]} */
  const times = fns.map(() => []);
  const start = performance.now();
  for (let round = 0; round < warmup + maxRuns; round++) {
    for (let i = 0; i < fns.length; i++) {
      const t = times[i];
      if (t instanceof Error) continue;
      const t0 = performance.now();
      try {
        await fns[i]();
      } catch (e) {
        times[i] = /** @type {Error} */ (e);
        continue;
      }
      if (round >= warmup) t.push(performance.now() - t0);
    }
    if (round + 1 - warmup >= minRuns && performance.now() - start >= minMs) break;
  }
  /** @param {number} i @param {number} j */
  const ratio = (i, j) => {
    const [a, b] = [times[i], times[j]];
    return a instanceof Error || b instanceof Error ? NaN : pairedRatio(a, b);
  };
  return { ms: times.map((t) => (t instanceof Error ? t : median(t))), ratio };
}

/**
 * Median ms per call of each function on back-to-back calls: blocks of calls to one function (at least 3, for
 * at least `blockMs`), the functions in turn, `rounds` times after one warm-up round; the first call of a block is not
 * counted (it follows the other function's block).
 * @param {(() => Promise<unknown>)[]} fns
 */
async function timeBlocks(fns, { blockMs = 150, rounds = 10 } = {}) {
  /** @type {number[][]} all counted calls of each function */
  const times = fns.map(() => []);
  /** @type {number[][]} each round's median of each function */
  const perRound = fns.map(() => []);
  for (let round = 0; round <= rounds; round++) {
    for (let i = 0; i < fns.length; i++) {
      const start = performance.now();
      const block = [];
      for (let n = 0; n < 3 || performance.now() - start < blockMs; n++) {
        const t0 = performance.now();
        await fns[i]();
        if (n > 0) block.push(performance.now() - t0);
      }
      if (round > 0) {
        times[i].push(...block);
        perRound[i].push(median(block));
      }
    }
  }
  /** @param {number} i @param {number} j */
  const ratio = (i, j) => pairedRatio(perRound[i], perRound[j]);
  return { ms: times.map(median), ratio };
}

/**
 * Runs the wasm benchmark and prints its tables; returns every number.
 * @param {{ quick?: boolean }} [opts]
 */
export async function benchWasm({ quick = false } = {}) {
  const { createEngine, loadModel, smoothGrad } = await importSmoothgeo();
  const notes = new Notes();
  const peaks = [await measurePeak()];
  let peak = peaks[0].gflops;
  const results = {
    tfjsWasm: version('@tensorflow/tfjs-backend-wasm'),
    peakGflops: peak,
    /** @type {Record<string, number>} */ peakShapes: {},
    /** @type {Record<string, string>} */ engines: {},
    /** @type {any[]} */ kernels: [],
    /** @type {any[]} */ models: [],
    /** @type {any[]} */ backToBack: [],
    /** @type {{ idleMs: number, medianUs: number, maxUs: number }[]} */ forkLatency: [],
  };
  log(`\n== WebAssembly: smoothgeo wasm vs TensorFlow.js wasm ${results.tfjsWasm} (one Node process) ==`);
  log(
    `wasm SIMD128 mul+add peak in this process: ${fmt(peak, 1)} GFLOP/s (bench/wasm-peak, best shape ${peaks[0].shape})`,
  );

  const engines = {
    1: await createEngine({ backend: 'wasm', threads: 1 }),
    2: await createEngine({ backend: 'wasm', threads: 2 }),
  };
  for (const [t, e] of Object.entries(engines)) {
    results.engines[t] = e.describe();
    log(`${t} thread${t === '1' ? '' : 's'}: ${e.describe()}`);
  }

  // ---- kernels, one thread ----
  const be = await engines[1].backendForCall();
  const r = rng(7);
  const rand = (n) => Float32Array.from({ length: n }, () => r());
  const reps = quick ? 15 : 60,
    minMs = quick ? 100 : 500;
  /**
   * Best of at least `reps` timings of a synchronous backend call (each wasm primitive runs synchronously), over
   * at least `minMs`: a short kernel's 60 calls fit in one slow spell of the host (GEMM 256³ read 42–69% of the
   * peak from run to run over 60 calls).
   */
  function rate(flop, fn) {
    for (let i = 0; i < 3; i++) be.release(fn());
    let best = Infinity;
    const start = performance.now();
    for (let i = 0; i < reps || performance.now() - start < minMs; i++) {
      const t0 = performance.now();
      const out = fn();
      best = Math.min(best, performance.now() - t0);
      be.release(out);
    }
    return { ms: best, gflops: flop / (best * 1e6), percentOfPeak: 0 };
  }
  for (const n of quick ? [256] : [256, 512]) {
    const A = be.upload(rand(n * n), [n, n], 'A'),
      B = be.upload(rand(n * n), [n, n], 'B');
    results.kernels.push({ kernel: `GEMM ${n}³`, ...rate(2 * n ** 3, () => be.matmul(A, B, { label: 'bench' })) });
    results.kernels.push({
      kernel: `GEMM ${n}³, Bᵀ`,
      ...rate(2 * n ** 3, () => be.matmul(A, B, { label: 'bench', transB: true })),
    });
    be.release(A, B);
  }
  for (const [name, g] of /** @type {[string, any][]} */ ([
    ['LeNet conv1 50×1×28×28→6 5×5', convGeom(50, 1, 28, 28, 6, 5)],
    ['LeNet conv2 50×6×12×12→12 5×5', convGeom(50, 6, 12, 12, 12, 5)],
  ])) {
    const flop = 2 * g.n * g.o * g.oh * g.ow * g.c * g.kh * g.kw;
    const x = be.upload(rand(g.n * g.c * g.h * g.w), [g.n, g.c, g.h, g.w], 'x'),
      w = be.upload(rand(g.o * g.c * g.kh * g.kw), [g.o, g.c, g.kh, g.kw], 'w');
    const gy = be.upload(rand(g.n * g.o * g.oh * g.ow), [g.n, g.o, g.oh, g.ow], 'gy');
    results.kernels.push({ kernel: `${name} forward`, ...rate(flop, () => be.conv2d(x, w, null, g)) });
    results.kernels.push({ kernel: `${name} backward input`, ...rate(flop, () => be.conv2dBackwardInput(gy, w, g)) });
    results.kernels.push({ kernel: `${name} backward filter`, ...rate(flop, () => be.conv2dBackwardFilter(gy, x, g)) });
    be.release(x, w, gy);
  }
  // The peak again after the kernels, the larger kept per shape (load from other jobs varies over the run),
  // and the percentages taken against the best.
  peaks.push(await measurePeak());
  for (const p of peaks)
    for (const [shape, g] of Object.entries(p.shapes))
      results.peakShapes[shape] = Math.max(results.peakShapes[shape] ?? 0, g);
  peak = Math.max(...Object.values(results.peakShapes));
  results.peakGflops = peak;
  for (const k of results.kernels) k.percentOfPeak = (100 * k.gflops) / peak;
  log(
    `wasm SIMD128 mul+add peak, the best of two measurements around the kernel rows: ${fmt(peak, 1)} GFLOP/s (` +
      Object.entries(results.peakShapes)
        .map(([shape, g]) => `${shape} ${fmt(g, 1)}`)
        .join(', ') +
      ')',
  );
  for (const k of results.kernels.filter((k) => k.percentOfPeak > 100))
    log(
      `WARNING: ${k.kernel} runs at ${fmt(k.gflops, 1)} GFLOP/s, above the measured peak: the peak loops miss this CPU's peak`,
    );
  log('');
  log(
    table(
      [`kernel (1 thread, best of ≥ ${reps} calls, ≥ ${minMs} ms)`, 'ms', 'GFLOP/s', '% of peak'],
      results.kernels.map((k) => [k.kernel, fmt(k.ms, 3), fmt(k.gflops, 1), `${fmt(k.percentOfPeak, 0)}%`]),
    ),
  );

  // ---- models ----
  const SG = 50;
  const blockMs = quick ? 50 : 150; // back-to-back blocks
  let tfPeer = null;
  const rows = [];
  const b2bRows = [];
  for (const name of ['lenet', 'mlp']) {
    const c = await loadOracleCase(name, ORACLE);
    const bytes = new Uint8Array(await readFile(join(ORACLE, `${name}.safetensors`)));
    const models = {
      1: await loadModel(engines[1], c.model, bytes, { prefix: 'param.' }),
      2: await loadModel(engines[2], c.model, bytes, { prefix: 'param.' }),
    };
    tfPeer?.dispose();
    tfPeer = await makeTfjsPeer(c.model, c.weights, { backend: 'wasm' });
    const peer = tfPeer;
    const b1 = makeBatch(c, 1),
      b2 = makeBatch(c, 2),
      b16 = makeBatch(c, 16);
    const obj = (b) => ({ kind: 'logit', target: b.target });
    /** @type {[string, (m: any) => Promise<unknown>, () => Promise<unknown>][]} */
    const calls = [
      ['forward B=2', (m) => m.forward(b2.x), () => peer.forward(b2.x)],
      ['input gradient B=2', (m) => m.inputGradient(b2.x, obj(b2)), () => peer.inputGradient(b2.x, b2.target)],
      ['input HVP B=2', (m) => m.inputHvp(b2.x, b2.v, obj(b2)), () => peer.inputHvp(b2.x, b2.v, b2.target)],
      [
        `SmoothGrad-${SG} B=1`,
        (m) => smoothGrad(m, b1.x, { target: b1.target, sigma: 0.15, samples: SG, seed: 1 }),
        () => peer.smoothGrad(b1.x, b1.target, 0.15, SG, { seed: 1 }),
      ],
      [
        `SmoothGrad-${SG} B=16`,
        (m) => smoothGrad(m, b16.x, { target: b16.target, sigma: 0.15, samples: SG, seed: 1 }),
        () => peer.smoothGrad(b16.x, b16.target, 0.15, SG, { seed: 1 }),
      ],
    ];
    for (const [call, ours, theirs] of calls) {
      const timed = await timeRoundRobin([() => ours(models[1]), () => ours(models[2]), theirs], {
        minRuns: quick ? 3 : 7,
        minMs: quick ? 300 : 1500,
      });
      const [one, two, tf] = timed.ms;
      for (const t of [one, two]) if (t instanceof Error) throw t; // smoothgeo must run every call
      const entry = {
        model: name,
        call,
        ms1: /** @type {number} */ (one),
        ms2: /** @type {number} */ (two),
        tfjsMs: tf instanceof Error ? null : tf,
        tfjsError: tf instanceof Error ? errText(tf) : null,
        // Paired (per round) ratios, the numbers the table prints.
        tfjsOver1: timed.ratio(2, 0),
        tfjsOver2: timed.ratio(2, 1),
        speedup2: timed.ratio(0, 1),
      };
      results.models.push(entry);
      const tfCell = entry.tfjsError ? `FAIL[${notes.note(entry.tfjsError)}]` : fmt(entry.tfjsMs);
      const ratio = (r) => (entry.tfjsMs ? fmtRatio(r) : '-');
      rows.push([
        name,
        call,
        fmt(entry.ms1),
        fmt(entry.ms2),
        tfCell,
        ratio(entry.tfjsOver1),
        ratio(entry.tfjsOver2),
        fmtRatio(entry.speedup2),
      ]);
    }
    for (const [call, ours] of calls.filter(([c]) => c.startsWith('SmoothGrad'))) {
      const timed = await timeBlocks([() => ours(models[1]), () => ours(models[2])], {
        blockMs,
        rounds: quick ? 2 : 10,
      });
      const [one, two] = timed.ms;
      const speedup2 = timed.ratio(0, 1);
      results.backToBack.push({ model: name, call, ms1: one, ms2: two, speedup2 });
      b2bRows.push([name, call, fmt(one), fmt(two), fmtRatio(speedup2)]);
    }
    // The HVP goal is a ratio of two of our own sub-millisecond calls: timed in one round robin of their own and
    // paired round by round, not as a quotient of two rows above (each row's calls follow a tfjs call or not).
    const [, grad, hvp] = calls;
    const pair = await timeRoundRobin([() => grad[1](models[1]), () => hvp[1](models[1])], {
      minRuns: quick ? 3 : 25,
      minMs: quick ? 200 : 1000,
    });
    results.models.push({ model: name, hvpOverGradient: pair.ratio(1, 0) });
  }
  tfPeer?.dispose();
  log('');
  log(table(['model', 'call', 'sg 1T ms', 'sg 2T ms', 'tfjs ms', 'tfjs/sg 1T', 'tfjs/sg 2T', '2T speedup'], rows, 2));
  for (const e of results.models.filter((m) => m.hvpOverGradient))
    log(`${e.model}: input HVP / input gradient (1 thread, B = 2, paired rounds) = ${fmt(e.hvpOverGradient)}`);
  log(
    `\nback-to-back calls (blocks of ≥ 3 calls and ≥ ${blockMs} ms per engine, alternating; the first call of a block not counted; speedup: the median of the per-round ratios)`,
  );
  log(table(['model', 'call', 'sg 1T ms', 'sg 2T ms', '2T speedup'], b2bRows, 2));

  // ---- fork latency after idle periods ----
  const pool = /** @type {any} */ (await engines[2].backendForCall()).pool;
  const forkRows = [];
  for (const idleMs of [0, 1, 5, 40, 300]) {
    const us = [];
    for (let i = 0; i < (quick ? 5 : 15); i++) {
      if (idleMs) await new Promise((res) => setTimeout(res, idleMs));
      // scatterAdd of no elements: the chunk is the fork and the join alone.
      us.push(1000 * pool.forkLatency('scatterAdd', [0, 0, 0, 0, 0, 0]));
    }
    const entry = { idleMs, medianUs: median(us), maxUs: Math.max(...us) };
    results.forkLatency.push(entry);
    forkRows.push([String(idleMs), fmt(entry.medianUs, 0), fmt(entry.maxUs, 0)]);
  }
  log(`\nfork to the 2-thread pool's worker after the process idled (an empty kernel; µs, ${quick ? 5 : 15} forks)`);
  log(table(['idle ms', 'median µs', 'max µs'], forkRows, 0));
  notes.print();
  results.notes = notes.toJSON();
  engines[1].dispose();
  engines[2].dispose();
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: opts, command } = parseBenchArgs('bench/wasm.mjs', {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
  });
  const results = await benchWasm({ quick: opts.quick });
  log(`\ncommand: ${command}`);
  writeReport(opts.json, results);
  process.exit(0);
}
