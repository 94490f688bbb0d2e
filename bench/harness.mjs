// The bench harness: what every bench script shares, so that each script states only what it measures.
// Argument parsing, timing (warm-up, medians, time budgets), number formats, plain-text tables, the JSON
// report, deterministic inputs, building internal TypeScript modules on the fly, and a clean exit.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH_DIR, '..');
export const log = (...a) => console.log(...a);

// ---- arguments ----

/**
 * Parses `process.argv` with node:util parseArgs; on a bad argument prints the usage line and exits 2.
 * @param {string} script e.g. 'bench/gpu.mjs'
 * @param {Record<string, { type: 'boolean' | 'string', default?: any }>} options
 * @returns {{ values: Record<string, any>, command: string, npmCommand: (npmScript: string) => string }}
 */
export function parseBenchArgs(script, options) {
  const args = process.argv.slice(2);
  try {
    const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
    return {
      values,
      command: `node ${script}${args.length ? ' ' + args.join(' ') : ''}`,
      npmCommand: (npmScript) => `npm run ${npmScript}${args.length ? ' -- ' + args.join(' ') : ''}`,
    };
  } catch (e) {
    const flags = Object.entries(options).map(([k, o]) => `[--${k}${o.type === 'string' ? ' VALUE' : ''}]`);
    console.error(`${script}: ${/** @type {Error} */ (e).message}\nusage: node ${script} ${flags.join(' ')}`);
    process.exit(2);
  }
}

// ---- timing ----

/** Median of a list of numbers. @param {number[]} xs */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Median wall ms per call of an async `fn` (which must read its result back, so the GPU work is finished when
 * it resolves): `warmup` untimed calls, then at least `minRuns` timed calls and until `minMs` of them have
 * passed, at most `maxRuns`.
 * @param {() => Promise<unknown>} fn
 * @param {{ warmup?: number, minRuns?: number, minMs?: number, maxRuns?: number }} [opts]
 * @returns {Promise<number>}
 */
export async function timeIt(fn, { warmup = 2, minRuns = 5, minMs = 500, maxRuns = 1000 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  let total = 0;
  while (times.length < minRuns || (total < minMs && times.length < maxRuns)) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    times.push(dt);
    total += dt;
  }
  return median(times);
}

/**
 * Median ms of `run(R)` (R repetitions recorded back to back, one readback): at least 3 calls, up to
 * `repeats`, stopping once `budgetMs` of timed calls have passed; with `warm`, one untimed call first.
 * @param {(R: number) => Promise<unknown>} run
 * @param {number} R
 * @param {{ repeats: number, budgetMs: number, warm: boolean }} opts
 */
export async function timeReps(run, R, { repeats, budgetMs, warm }) {
  if (warm) await run(R);
  const ts = [];
  let total = 0;
  while (ts.length < 3 || (ts.length < repeats && total < budgetMs)) {
    const t = performance.now();
    await run(R);
    const dt = performance.now() - t;
    ts.push(dt);
    total += dt;
  }
  return median(ts);
}

// ---- formats and tables ----

/** @param {number | null | undefined} ms */
export const fmtMs = (ms) => (ms == null ? '-' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
/** @param {number | null | undefined} r */
export const fmtRatio = (r) => (r == null || !Number.isFinite(r) ? '-' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`);
/** @param {number | null | undefined} r */
export const fmtRate = (r) =>
  r == null ? '-' : r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r >= 1 ? r.toFixed(2) : r.toFixed(3);
/** A relative error, marked '!' above `tol`. @param {number | null | undefined} e @param {number} tol */
export const fmtErr = (e, tol) => (e == null ? '-' : e.toExponential(1) + (e > tol ? '!' : ''));
/** First line of an error, with its class. @param {any} e */
export const errText = (e) => `${e?.constructor?.name ?? 'Error'}: ${String(e?.message ?? e).split('\n')[0]}`;

/**
 * Plain-text table with right-aligned columns (the first `left` columns left-aligned).
 * @param {string[]} header @param {unknown[][]} rows @param {number} [left]
 */
export function table(header, rows, left = 1) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  /** @param {unknown[]} r */
  const line = (r) =>
    r
      .map((c, i) => (i < left ? String(c).padEnd(w[i]) : String(c).padStart(w[i])))
      .join('  ')
      .trimEnd();
  return [line(header), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

/** Footnotes for error messages in tables: text → number. */
export class Notes {
  /** @type {Map<string, number>} */
  map = new Map();
  /** @param {string} text */
  note(text) {
    if (!this.map.has(text)) this.map.set(text, this.map.size + 1);
    return /** @type {number} */ (this.map.get(text));
  }
  print() {
    if (this.map.size) log('');
    for (const [text, i] of this.map) log(`[${i}] ${text}`);
  }
  toJSON() {
    return Object.fromEntries([...this.map].map(([t, i]) => [i, t]));
  }
}

// ---- reports ----

/** The installed version of a package, or '?'. @param {string} pkg */
export function version(pkg) {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

/** Writes the JSON report (folders made as needed) and says where. @param {string | undefined} path @param {unknown} results */
export function writeReport(path, results) {
  if (!path) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
  log(`wrote ${relative(process.cwd(), path) || path}`);
}

/**
 * Sets the exit status and, should something (Dawn can) keep the event loop alive, exits after 3 s anyway.
 * @param {number} code
 */
export function finish(code) {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 3000).unref();
}

// ---- inputs ----

/** xorshift32 in [-1, 1). @param {number} seed */
export function rng(seed) {
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

/**
 * Batch B from an oracle case's examples: example i is oracle example i mod b0, and every tiled copy past the
 * first b0 gets a small deterministic perturbation (x: ±0.02, clamped to [0, 1]; v: ±10% relative), so the
 * batch holds B distinct inputs. B ≤ b0 takes the first B.
 * @param {{ tensors: Map<string, { shape: number[], data: Float32Array }>, target: number[] }} c
 * @param {number} B
 */
export function makeBatch(c, B) {
  const x = /** @type {{ shape: number[], data: Float32Array }} */ (c.tensors.get('x'));
  const v = /** @type {{ shape: number[], data: Float32Array }} */ (c.tensors.get('v'));
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

// ---- internal modules ----

/**
 * Bundles a bench TypeScript module that reaches into smoothgeo's internals (the public bundle does not expose
 * them) into dist/ and imports it. @param {string} name e.g. 'kernels' for bench/kernels.ts
 */
export async function importInternal(name) {
  const outfile = join(ROOT, 'dist', `bench-${name}.mjs`);
  await build({
    entryPoints: [join(BENCH_DIR, `${name}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'es2022',
    loader: { '.wgsl': 'text' },
    external: ['webgpu'],
    outfile,
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}

/** The public bundle (dist/smoothgeo.node.mjs, built by `node build.mjs`). */
export function importSmoothgeo() {
  return import(pathToFileURL(join(ROOT, 'dist', 'smoothgeo.node.mjs')).href);
}
