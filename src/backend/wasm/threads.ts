import { fail } from '../../errors.js';

/**
 * A fork-join pool of worker threads over the backend's shared memory: Node's worker_threads, or in a
 * cross-origin isolated browser page Web Workers (SharedArrayBuffer needs isolation there). Each worker
 * instantiates the shared-memory build of the kernels on the same memory and waits on a control block; a
 * parallel call gives every thread (the caller included) its own argument list for the same export, runs
 * the caller's share, and waits until every worker is done. Work is split by batch rows or element ranges
 * whose outputs are disjoint, so every value is computed by the same instructions as with one thread and
 * results are bitwise identical.
 *
 * Waiting: a worker spins briefly on the epoch before it sleeps in Atomics.wait (back-to-back kernels of
 * one sweep then start without a wake-up, ~10 µs each); the caller spins briefly on the done count and
 * then sleeps in Atomics.wait, or, on a browser's main thread where Atomics.wait throws, keeps spinning.
 *
 * Control block (Int32Array over a SharedArrayBuffer): [0] epoch, [1] done count, [2] export index, [3] quit,
 * [4] the index of a worker whose kernel threw (0: none);
 * arguments as float64s from byte 64, MAX_ARGS per thread.
 */
const MAX_ARGS = 32;
const ARGS_AT = 64;
/** A worker silent this long is reported (a kernel of the sizes LIMITS allows takes well under this). */
const TIMEOUT_MS = 60_000;

/** The worker's loop; `post` sends a message to the creating thread. */
const WORKER_LOOP = `
function serve(data, post) {
  const { module, memory, control, index, names } = data;
  const ctl = new Int32Array(control);
  const args = new Float64Array(control, ${ARGS_AT} + index * ${MAX_ARGS} * 8, ${MAX_ARGS});
  WebAssembly.instantiate(module, { env: { memory, abort() { throw new Error('smoothgeo wasm kernel aborted'); } } }).then((inst) => {
    const ex = inst.exports;
    post('ready');
    let epoch = 0;
    for (;;) {
      for (let spin = 0; spin < 4000 && Atomics.load(ctl, 0) === epoch; spin++);
      Atomics.wait(ctl, 0, epoch);
      epoch = Atomics.load(ctl, 0);
      if (Atomics.load(ctl, 3)) return;
      const fn = ex[names[Atomics.load(ctl, 2)]];
      const n = args[0];
      try { if (n >= 0) fn(...Array.from(args.subarray(1, 1 + n))); } catch (e) {
        Atomics.store(ctl, 4, index);
        post(String((e && e.stack) || e));
      }
      Atomics.add(ctl, 1, 1);
      Atomics.notify(ctl, 1);
    }
  }, (e) => post('failed: ' + String((e && e.message) || e)));
}
`;
// An ES module from a data: URL: \`eval: true\` source would be parsed as the parent's --input-type says
// (with --input-type=module, \`require\` is undefined there).
const NODE_WORKER = `${WORKER_LOOP}
import { parentPort, workerData } from 'node:worker_threads';
serve(workerData, (m) => parentPort.postMessage(m));
`;
const WEB_WORKER = `${WORKER_LOOP}
self.onmessage = (ev) => serve(ev.data, (m) => self.postMessage(m));
`;

interface PoolWorker {
  terminate(): unknown;
}

const inNode = (): boolean => typeof process !== 'undefined' && !!process.versions?.node;

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

export class ThreadPool {
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly blocking = canBlock();
  private disposed = false;

  private constructor(
    private readonly workers: PoolWorker[],
    private readonly names: string[],
    control: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(control);
    this.args = new Float64Array(control, ARGS_AT, (workers.length + 1) * MAX_ARGS);
  }

  /** The number of threads, the caller's included. */
  get size(): number {
    return this.workers.length + 1;
  }

  static async create(
    threads: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    names: string[],
  ): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(ARGS_AT + threads * MAX_ARGS * 8);
    const workers: PoolWorker[] = [];
    try {
      for (let i = 0; i < threads - 1; i++) {
        const data = { module, memory, control, index: i + 1, names };
        workers.push(inNode() ? await nodeWorker(data) : await webWorker(data));
      }
    } catch (e) {
      for (const w of workers) void w.terminate();
      fail('BACKEND_UNAVAILABLE', `wasm thread pool: a worker did not start (${(e as Error).message ?? e})`);
    }
    return new ThreadPool(workers, names, control);
  }

  /**
   * Runs export `name` once per thread with argument lists `parts` (at most `size`; the first is the caller's),
   * and returns when all are done. Synchronous: the caller waits in Atomics.wait, or spins where it may not block.
   */
  run(name: string, parts: number[][], call: (...args: number[]) => void): void {
    // A disposed pool's workers are gone: waiting for them would only time out.
    if (this.disposed) fail('BACKEND_UNAVAILABLE', 'wasm thread pool: this engine was disposed; create a new one');
    const id = this.names.indexOf(name);
    if (id < 0) fail('BACKEND_UNAVAILABLE', `wasm thread pool: no kernel named ${name}`);
    for (let t = 1; t < this.size; t++) {
      const a = parts[t];
      const row = this.args.subarray(t * MAX_ARGS, (t + 1) * MAX_ARGS);
      if (!a) {
        row[0] = -1;
        continue;
      }
      if (a.length >= MAX_ARGS)
        throw new Error(`wasm thread pool: ${name} has ${a.length} arguments, more than ${MAX_ARGS - 1}`);
      row[0] = a.length;
      row.set(a, 1);
    }
    Atomics.store(this.ctl, 1, 0);
    Atomics.store(this.ctl, 2, id);
    Atomics.add(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
    let error: unknown = null;
    try {
      if (parts[0]) call(...parts[0]);
    } catch (e) {
      error = e;
    }
    this.waitDone(name);
    const failed = Atomics.exchange(this.ctl, 4, 0);
    if (error) throw error;
    if (failed) fail('BACKEND_UNAVAILABLE', `wasm thread pool: ${name} failed in worker ${failed}`);
  }

  private waitDone(name: string): void {
    const workers = this.size - 1;
    for (let spin = 0; spin < 4000 && Atomics.load(this.ctl, 1) < workers; spin++);
    const start = performance.now();
    for (let done = Atomics.load(this.ctl, 1); done < workers; done = Atomics.load(this.ctl, 1)) {
      if (this.blocking) Atomics.wait(this.ctl, 1, done, 1000);
      if (performance.now() - start > TIMEOUT_MS && Atomics.load(this.ctl, 1) === done) {
        fail(
          'BACKEND_UNAVAILABLE',
          `wasm thread pool: ${workers - done} worker(s) did not finish ${name} within ${TIMEOUT_MS / 1000} s`,
        );
      }
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, 3, 1);
    Atomics.add(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
    for (const w of this.workers) void w.terminate();
  }
}

async function nodeWorker(data: object): Promise<PoolWorker> {
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(NODE_WORKER)}`), { workerData: data });
  await new Promise<void>((resolve, reject) => {
    w.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    w.once('error', reject);
  });
  w.unref(); // an idle pool never keeps the process alive
  return w;
}

async function webWorker(data: object): Promise<PoolWorker> {
  const url = URL.createObjectURL(new Blob([WEB_WORKER], { type: 'text/javascript' }));
  const w = new Worker(url);
  URL.revokeObjectURL(url);
  await new Promise<void>((resolve, reject) => {
    w.onmessage = (ev: MessageEvent) => (ev.data === 'ready' ? resolve() : reject(new Error(String(ev.data))));
    w.onerror = (ev: ErrorEvent) => reject(new Error(ev.message));
    w.postMessage(data);
  });
  w.onmessage = null;
  return w;
}

/**
 * How many threads to run and why, for `describe()`. Node: the number asked for, else the available cores
 * (os.availableParallelism). Browsers: only in a cross-origin isolated page (SharedArrayBuffer needs it),
 * the number asked for or else navigator.hardwareConcurrency, at most 8; otherwise one, said in the note.
 */
export async function planThreads(asked: number | undefined): Promise<{ threads: number; note: string }> {
  if (inNode()) {
    if (asked !== undefined) return { threads: asked, note: '' };
    const os = await import('node:os');
    const n = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
    return { threads: n, note: ` (default: the ${n} available core${n > 1 ? 's' : ''})` };
  }
  const g = globalThis as {
    crossOriginIsolated?: boolean;
    Worker?: unknown;
    navigator?: { hardwareConcurrency?: number };
  };
  if (!g.crossOriginIsolated || typeof g.Worker !== 'function') {
    const why = !g.crossOriginIsolated
      ? 'the page is not cross-origin isolated (COOP/COEP headers), so it has no SharedArrayBuffer'
      : 'this context has no Worker';
    return { threads: 1, note: asked !== undefined && asked > 1 ? ` (${asked} asked for; ${why}, so 1)` : ` (${why})` };
  }
  if (asked !== undefined) return { threads: asked, note: '' };
  const n = Math.min(8, Math.max(1, g.navigator?.hardwareConcurrency ?? 1));
  return { threads: n, note: ` (default: navigator.hardwareConcurrency, at most 8)` };
}
