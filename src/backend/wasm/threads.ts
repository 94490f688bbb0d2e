import { fail } from '../../errors.js';

/**
 * A fork-join pool of worker threads over the backend's shared memory (Node's worker_threads). Each worker
 * instantiates the shared-memory build of the kernels on the same memory and waits on a control block; a
 * parallel call gives every thread (the caller included) its own argument list for the same export, runs
 * the caller's share, and waits until every worker is done. Work is split by batch rows or element ranges
 * whose outputs are disjoint, so every value is computed by the same instructions as with one thread and
 * results are bitwise identical.
 *
 * Control block (Int32Array over a SharedArrayBuffer): [0] epoch, [1] done count, [2] export index, [3] quit,
 * [4] the index of a worker whose kernel threw (0: none);
 * arguments as float64s from byte 64, MAX_ARGS per thread.
 */
const MAX_ARGS = 24;
const ARGS_AT = 64;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, control, index, names } = workerData;
const ctl = new Int32Array(control);
const args = new Float64Array(control, ${ARGS_AT} + index * ${MAX_ARGS} * 8, ${MAX_ARGS});
WebAssembly.instantiate(module, { env: { memory, abort() { throw new Error('smoothgeo wasm kernel aborted'); } } }).then((inst) => {
  const ex = inst.exports;
  parentPort.postMessage('ready');
  let epoch = 0;
  for (;;) {
    Atomics.wait(ctl, 0, epoch);
    epoch = Atomics.load(ctl, 0);
    if (Atomics.load(ctl, 3)) return;
    const fn = ex[names[Atomics.load(ctl, 2)]];
    const n = args[0];
    try { if (n >= 0) fn(...Array.from(args.subarray(1, 1 + n))); } catch (e) {
      Atomics.store(ctl, 4, index);
      parentPort.postMessage(String(e && e.stack || e));
    }
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
});
`;

export class ThreadPool {
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;

  private constructor(
    private readonly workers: { terminate(): Promise<number>; unref(): void }[],
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
    const { Worker } = await import('node:worker_threads');
    const control = new SharedArrayBuffer(ARGS_AT + threads * MAX_ARGS * 8);
    const workers = [];
    for (let i = 0; i < threads - 1; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control, index: i + 1, names } });
      await new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      });
      w.unref(); // an idle pool never keeps the process alive
      workers.push(w);
    }
    return new ThreadPool(workers, names, control);
  }

  /**
   * Runs export `name` once per thread with argument lists `parts` (at most `size`; the first is the caller's),
   * and returns when all are done. Synchronous: the caller blocks on Atomics.wait (allowed in Node's main thread).
   */
  run(name: string, parts: number[][], call: (...args: number[]) => void): void {
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
    const workers = this.size - 1;
    for (let done = Atomics.load(this.ctl, 1); done < workers; done = Atomics.load(this.ctl, 1)) {
      if (Atomics.wait(this.ctl, 1, done, 10_000) === 'timed-out' && Atomics.load(this.ctl, 1) === done) {
        fail('BACKEND_UNAVAILABLE', `wasm thread pool: ${workers - done} worker(s) did not finish ${name} within 10 s`);
      }
    }
    const failed = Atomics.exchange(this.ctl, 4, 0);
    if (error) throw error;
    if (failed) fail('BACKEND_UNAVAILABLE', `wasm thread pool: ${name} failed in worker ${failed}`);
  }

  dispose(): void {
    Atomics.store(this.ctl, 3, 1);
    Atomics.add(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
    for (const w of this.workers) void w.terminate();
  }
}

/**
 * Threads to use by default: 1. The pool is opt-in (`createEngine({ threads })`) until a hang seen in
 * bench/wasm.mjs is understood: there a worker stopped answering (the 10 s guard above turns it into an
 * error) after the threaded engine sat idle while another engine and TF.js ran in the same process.
 */
export async function defaultThreads(): Promise<number> {
  return 1;
}
