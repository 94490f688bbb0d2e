import { fail } from '../../errors.js';

/**
 * A fork-join pool of worker threads over the backend's shared memory: Node's worker_threads, or in a
 * cross-origin isolated browser page Web Workers (SharedArrayBuffer needs isolation there). Each worker
 * instantiates the shared-memory build of the kernels on the same memory and waits on a control block.
 *
 * A parallel call cuts its items into contiguous chunks, and each thread owns a contiguous range of them:
 * the same rows, kernel after kernel, so a thread mostly reads what it wrote itself (its own cache). A thread
 * takes its own chunks from the front of its range and, when they are done, steals the others' from the back
 * (one compare-exchange on the owner's word per chunk), so a thread that starts late or is descheduled (a
 * virtual CPU of a shared host) holds up at most the chunk it is running. Chunks write disjoint outputs,
 * each is computed by the same instructions whoever runs it, and their bounds depend on the call alone, so
 * results are bitwise identical to one thread. Each thread has its own argument list per chunk (its own
 * scratch workspace).
 *
 * Waiting: a worker spins for a window of time (SPIN_US) after its last chunk before it sleeps in
 * Atomics.wait, and wake() (called as each engine call starts) starts that window for a sleeping worker
 * while the host still validates and uploads. Why: waking a sleeping thread costs from ~50 µs to over a
 * millisecond on the virtual machines measured (an idle virtual CPU; bench/wasm-profile.mjs), and the host
 * work between two parallel kernels of one call (the serial small ops) takes 10–200 µs. The caller spins on
 * the done count for the window, then sleeps in Atomics.wait (or, on a browser's main thread where
 * Atomics.wait throws, keeps spinning).
 *
 * Control block (Int32Array over a SharedArrayBuffer): [0] the kernel number (bumped to publish a kernel),
 * [1] chunks done by workers, [2] export index, [3] quit, [4] the index of a worker whose kernel threw
 * (0: none), [5] the spin window in µs, [8 + t] thread t's range (kernel number << 16 | front << 8 | back:
 * the tag keeps a word of an old kernel from matching a new one); from byte ARGS_AT the argument lists as
 * float64s, MAX_ARGS per (chunk, thread), chunk-major.
 */
const MAX_ARGS = 32;
const RANGES = 8;
/** The most threads a pool runs: createEngine's limit (the control block holds a range word each). */
export const MAX_THREADS = 256;
const ARGS_AT = 4 * (RANGES + MAX_THREADS);
/** The most chunks one parallel call is cut into (a range word holds chunk indices in 8 bits). */
export const MAX_CHUNKS = 64;
/**
 * How long a thread spins for the next chunk before it sleeps, in µs: longer than the host's gaps between
 * the parallel kernels of one call, short enough that an idle engine soon stops using a core.
 */
const SPIN_US = 2000;
/** A worker silent this long is reported (a kernel of the sizes LIMITS allows takes well under this). */
const TIMEOUT_MS = 60_000;

/**
 * Runs chunks of the published kernel (number `tag`) until none is left: thread `self`'s own range from the
 * front, then the other threads' from the back; returns how many it ran. The workers run this function too
 * (its source is copied into WORKER_LOOP), so it reads nothing but its arguments.
 */
function take(
  ctl: Int32Array,
  at: number,
  self: number,
  threads: number,
  tag: number,
  run: (chunk: number) => void,
): number {
  let ran = 0;
  for (let v = 0; v < threads; v++) {
    const i = at + ((self + v) % threads);
    for (;;) {
      const w = Atomics.load(ctl, i);
      const front = (w >> 8) & 255,
        back = w & 255;
      if (w >>> 16 !== tag || front >= back) break;
      // Its own chunks from the front, the others' from the back: the owner keeps its rows while it can.
      if (Atomics.compareExchange(ctl, i, w, v === 0 ? w + 256 : w - 1) !== w) continue;
      run(v === 0 ? front : back - 1);
      ran++;
    }
  }
  return ran;
}

/** The worker's loop; `post` sends a message to the creating thread. */
const WORKER_LOOP = `
function serve(data, post) {
  const { module, memory, control, index, threads, names } = data;
  const ctl = new Int32Array(control);
  const args = new Float64Array(control, ${ARGS_AT});
  WebAssembly.instantiate(module, { env: { memory, abort() { throw new Error('smoothgeo wasm kernel aborted'); } } }).then((inst) => {
    const ex = inst.exports;
    post('ready');
    const run = (chunk) => {
      const row = (chunk * threads + index) * ${MAX_ARGS};
      // apply takes the typed array as it is: ~0.2 µs a call where spreading it cost ~1 µs.
      try { ex[names[Atomics.load(ctl, 2)]].apply(null, args.subarray(row + 1, row + 1 + args[row])); } catch (e) {
        Atomics.store(ctl, 4, index);
        post(String((e && e.stack) || e));
      }
      Atomics.add(ctl, 1, 1);
      Atomics.notify(ctl, 1);
    };
    const take = ${take.toString()};
    let seen = Atomics.load(ctl, 0), since = performance.now();
    for (let spin = 1; ; spin++) {
      if (Atomics.load(ctl, 3)) return;
      const kernel = Atomics.load(ctl, 0);
      if (kernel !== seen) {
        seen = kernel;
        take(ctl, ${RANGES}, index, threads, kernel & 0x7fff, run);
        since = performance.now();
        continue;
      }
      if ((spin & 127) !== 0 || performance.now() - since < Atomics.load(ctl, 5) / 1000) continue;
      Atomics.wait(ctl, 0, seen); // until the next kernel, or a wake() at the start of a call
      since = performance.now();
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
  /** Numbers the published kernels (15 bits, so a range word stays positive). */
  private kernel = 0;

  private constructor(
    private readonly workers: PoolWorker[],
    private readonly names: string[],
    control: SharedArrayBuffer,
    spinMicros: number,
  ) {
    this.ctl = new Int32Array(control);
    this.args = new Float64Array(control, ARGS_AT, MAX_CHUNKS * this.size * MAX_ARGS);
    this.spinMicros = spinMicros;
  }

  /** @internal The spin window in µs (benches compare windows; 0: sleep at once). */
  get spinMicros(): number {
    return Atomics.load(this.ctl, 5);
  }
  set spinMicros(us: number) {
    Atomics.store(this.ctl, 5, Math.max(0, Math.round(us)));
  }

  /** Wakes sleeping workers into their spin window, ahead of a call's first parallel kernel. */
  wake(): void {
    if (!this.disposed) Atomics.notify(this.ctl, 0);
  }

  /** The number of threads, the caller's included. */
  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Starts `threads` − 1 workers. With more threads than `cores` a spinning thread would take a core from
   * one with work, so threads then sleep as soon as they are idle.
   */
  static async create(
    threads: number,
    cores: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    names: string[],
  ): Promise<ThreadPool> {
    if (threads > MAX_THREADS) throw new Error(`wasm thread pool: ${threads} threads, more than ${MAX_THREADS}`);
    const control = new SharedArrayBuffer(ARGS_AT + MAX_CHUNKS * threads * MAX_ARGS * 8);
    const workers: PoolWorker[] = [];
    try {
      for (let i = 0; i < threads - 1; i++) {
        const data = { module, memory, control, index: i + 1, threads, names };
        workers.push(inNode() ? await nodeWorker(data) : await webWorker(data));
      }
    } catch (e) {
      for (const w of workers) void w.terminate();
      fail('BACKEND_UNAVAILABLE', `wasm thread pool: a worker did not start (${(e as Error).message ?? e})`);
    }
    return new ThreadPool(workers, names, control, threads <= cores ? SPIN_US : 0);
  }

  /**
   * Runs export `name` over `chunks` chunks (at most MAX_CHUNKS): chunk c on thread t with the arguments
   * `argsOf(c, t)`, each chunk on whichever thread claims it first. Returns when every chunk is done.
   * Synchronous: the caller runs chunks too, then waits in Atomics.wait, or spins where it may not block.
   */
  run(
    name: string,
    chunks: number,
    argsOf: (chunk: number, thread: number) => number[],
    call: (...args: number[]) => void,
  ): void {
    // A disposed pool's workers are gone: waiting for them would only time out.
    if (this.disposed) fail('BACKEND_UNAVAILABLE', 'wasm thread pool: this engine was disposed; create a new one');
    const id = this.kernelId(name);
    if (!(chunks >= 1 && chunks <= MAX_CHUNKS))
      throw new Error(`wasm thread pool: ${name} cut into ${chunks} chunks, expected 1 to ${MAX_CHUNKS}`);
    const T = this.size;
    for (let c = 0; c < chunks; c++) for (let t = 1; t < T; t++) this.setArgs(name, c, t, argsOf(c, t));
    const tag = this.publish(id, (t) => [Math.floor((t * chunks) / T), Math.floor(((t + 1) * chunks) / T)]);
    let error: unknown = null;
    const mine = take(this.ctl, RANGES, 0, T, tag, (c) => {
      try {
        if (!error) call(...argsOf(c, 0));
      } catch (e) {
        error = e;
      }
    });
    this.waitDone(name, chunks - mine);
    this.rethrow(name, error);
  }

  private kernelId(name: string): number {
    const id = this.names.indexOf(name);
    if (id < 0) fail('BACKEND_UNAVAILABLE', `wasm thread pool: no kernel named ${name}`);
    return id;
  }

  /** Writes the arguments of `chunk` on worker `thread`. */
  private setArgs(name: string, chunk: number, thread: number, a: number[]): void {
    if (a.length >= MAX_ARGS)
      throw new Error(`wasm thread pool: ${name} has ${a.length} arguments, more than ${MAX_ARGS - 1}`);
    const row = (chunk * this.size + thread) * MAX_ARGS;
    this.args[row] = a.length;
    this.args.set(a, row + 1);
  }

  /** After a kernel: clears a worker's failure flag, then throws the caller's own error or the worker's failure. */
  private rethrow(name: string, error: unknown): void {
    const failed = Atomics.exchange(this.ctl, 4, 0);
    if (error) throw error;
    if (failed) fail('BACKEND_UNAVAILABLE', `wasm thread pool: ${name} failed in worker ${failed}`);
  }

  /**
   * Publishes kernel `id` with thread t owning chunks [front, back) = `range(t)` (arguments already written);
   * returns its tag.
   */
  private publish(id: number, range: (t: number) => [front: number, back: number]): number {
    const tag = (this.kernel = (this.kernel + 1) & 0x7fff);
    for (let t = 0; t < this.size; t++) {
      const [front, back] = range(t);
      Atomics.store(this.ctl, RANGES + t, (tag << 16) | (front << 8) | back);
    }
    Atomics.store(this.ctl, 1, 0);
    Atomics.store(this.ctl, 2, id);
    // Publishing the number releases the arguments and ranges above to the workers (Atomics are sequentially
    // consistent).
    Atomics.store(this.ctl, 0, tag);
    Atomics.notify(this.ctl, 0);
    return tag;
  }

  /**
   * @internal Milliseconds from publishing a kernel until a worker has run it: export `name` with `args` (meant
   * to do no work) as one chunk owned by worker 1, which the caller leaves to the workers and spins for.
   * bench/wasm.mjs prints it after idle periods: a fork to a spinning worker, and to a sleeping one (on a
   * virtual machine, the wake-up of an idle virtual CPU).
   */
  forkLatency(name: string, args: number[]): number {
    if (this.disposed || this.size < 2)
      throw new Error('wasm thread pool: forkLatency needs a live pool of 2+ threads');
    const id = this.kernelId(name);
    for (let t = 1; t < this.size; t++) this.setArgs(name, 0, t, args); // any worker may take chunk 0
    const t0 = performance.now();
    this.publish(id, (t) => (t === 1 ? [0, 1] : [0, 0]));
    while (Atomics.load(this.ctl, 1) < 1)
      if (performance.now() - t0 > TIMEOUT_MS) throw new Error(`wasm thread pool: no worker ran ${name}`);
    const ms = performance.now() - t0;
    this.rethrow(name, null);
    return ms;
  }

  /** Waits until the workers have done `count` chunks. */
  private waitDone(name: string, count: number): void {
    const start = performance.now();
    const spinMs = Atomics.load(this.ctl, 5) / 1000;
    while (Atomics.load(this.ctl, 1) < count && performance.now() - start < spinMs);
    for (let done = Atomics.load(this.ctl, 1); done < count; done = Atomics.load(this.ctl, 1)) {
      if (this.blocking) Atomics.wait(this.ctl, 1, done, 1000);
      if (performance.now() - start > TIMEOUT_MS && Atomics.load(this.ctl, 1) === done) {
        fail(
          'BACKEND_UNAVAILABLE',
          `wasm thread pool: ${count - done} chunk(s) of ${name} on the workers did not finish within ${TIMEOUT_MS / 1000} s`,
        );
      }
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, 3, 1);
    Atomics.store(this.ctl, 0, (this.kernel = (this.kernel + 1) & 0x7fff));
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
export async function planThreads(
  asked: number | undefined,
): Promise<{ threads: number; cores: number; note: string }> {
  if (inNode()) {
    const os = await import('node:os');
    const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
    if (asked !== undefined) return { threads: asked, cores, note: '' };
    return { threads: cores, cores, note: ` (default: the ${cores} available core${cores > 1 ? 's' : ''})` };
  }
  const g = globalThis as {
    crossOriginIsolated?: boolean;
    Worker?: unknown;
    navigator?: { hardwareConcurrency?: number };
  };
  const cores = Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
  if (!g.crossOriginIsolated || typeof g.Worker !== 'function') {
    const why = !g.crossOriginIsolated
      ? 'the page is not cross-origin isolated (COOP/COEP headers), so it has no SharedArrayBuffer'
      : 'this context has no Worker';
    return {
      threads: 1,
      cores,
      note: asked !== undefined && asked > 1 ? ` (${asked} asked for; ${why}, so 1)` : ` (${why})`,
    };
  }
  if (asked !== undefined) return { threads: asked, cores, note: '' };
  const n = Math.min(8, cores);
  return { threads: n, cores, note: ` (default: navigator.hardwareConcurrency, at most 8)` };
}
