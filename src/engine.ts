// The engine: picks a backend (webgpu, wasm or the float64 cpu reference), says why, and fronts its lifecycle
// (memory, device generation and recovery, profiling, dispose) through the Backend contract alone.
import type { Backend, BackendName, MemoryUsage, Profile } from './backend/backend.js';
import { CpuBackend } from './backend/cpu.js';
import { WasmBackend } from './backend/wasm/wasm.js';
import { MAX_THREADS } from './backend/wasm/threads.js';
import type { DumpShaders } from './backend/webgpu/debug.js';
import type { GemmKernel } from './backend/webgpu/gemm-plan.js';
import { requestWebGPU, type AdapterSummary } from './backend/webgpu/webgpu.js';
import { fail, SmoothgeoError } from './errors.js';
import { choice, options as validateOptions, show } from './validate.js';

export type { DumpShaders } from './backend/webgpu/debug.js';

export interface EngineOptions {
  /**
   * 'auto': a hardware WebGPU adapter, else the wasm backend (a software adapter such as SwiftShader is
   * slower than wasm on the same CPU, so it is used only when asked for by name), else the float64 cpu
   * reference; describe() says which and why. Default 'auto'.
   */
  backend?: 'auto' | BackendName;
  /**
   * Threads of the wasm backend. Default: in Node, the available cores (worker_threads); in a browser, Web
   * Workers when the page is cross-origin isolated (navigator.hardwareConcurrency, at most 8), else one;
   * describe() says how many and why (see src/backend/wasm/threads.ts).
   */
  threads?: number;
  /** The WebGPU entry point: navigator.gpu in browsers; in Node, `create([])` of npm `webgpu` (loaded when omitted). */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  debug?: {
    /**
     * Dump every WGSL shader the engine composes, with its pipeline key: true to stderr (the console in
     * browsers), a directory path (Node) for one .wgsl file each, or a function called with (key, label,
     * code). Without this option, the environment variable SMOOTHGEO_DUMP_SHADERS (1, or a directory) asks.
     */
    dumpShaders?: DumpShaders;
    /**
     * Run every WebGPU GEMM and convolution on one kernel: 'main' (64×64 tiles), 'wide' (128×128 tiles),
     * 'direct' or 'kpar' (see src/backend/webgpu/gemm-plan.ts); 'auto' (the default) lets the planner pick.
     * For comparing kernels: results are the same bits except where kpar's order differs.
     */
    gemmKernel?: 'auto' | GemmKernel;
  };
}

/**
 * The backend a model runs on. `backend` says which was picked, `reason` why, and `adapter` which
 * GPU adapter (vendor, architecture, description; `software` is true for SwiftShader and the like).
 */
export class Engine {
  private constructor(
    private readonly impl: Backend,
    readonly reason: string,
    readonly adapter: AdapterSummary | null,
  ) {}

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const o = validateOptions('createEngine', options, [
      'backend',
      'gpu',
      'powerPreference',
      'debug',
      'threads',
    ]) as EngineOptions;
    if (o.debug !== undefined) {
      const d = validateOptions('createEngine: debug', o.debug, ['dumpShaders', 'gemmKernel']) as NonNullable<
        EngineOptions['debug']
      >;
      choice(
        'createEngine: debug.gemmKernel',
        d.gemmKernel,
        ['auto', 'main', 'wide', 'direct', 'kpar'] as const,
        'auto',
      );
      const dump = d.dumpShaders;
      if (dump !== undefined && typeof dump !== 'boolean' && typeof dump !== 'string' && typeof dump !== 'function') {
        fail(
          'INVALID_ARGUMENT',
          `createEngine: debug.dumpShaders must be true/false, a directory path or a function (key, label, code), got ${show(dump)}`,
        );
      }
    }
    const want = choice('createEngine: backend', o.backend, ['auto', 'webgpu', 'wasm', 'cpu'] as const, 'auto');
    choice(
      'createEngine: powerPreference',
      o.powerPreference,
      ['low-power', 'high-performance'] as const,
      'high-performance',
    );
    if (o.gpu === null || (o.gpu !== undefined && typeof (o.gpu as GPU).requestAdapter !== 'function')) {
      fail(
        'INVALID_ARGUMENT',
        `createEngine: gpu must be a WebGPU entry point (navigator.gpu) with requestAdapter(), got ${show(o.gpu)}`,
      );
    }
    options = o;
    if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1 && o.threads <= MAX_THREADS)) {
      fail(
        'INVALID_ARGUMENT',
        `createEngine: threads must be an integer from 1 to ${MAX_THREADS}, got ${show(o.threads)}`,
      );
    }
    if (want === 'cpu') return new Engine(new CpuBackend(), 'requested', null);
    if (want === 'wasm') return new Engine(await WasmBackend.create(o.threads), 'requested', null);
    let why: string;
    try {
      const gpu = await requestWebGPU(options.gpu, {
        powerPreference: options.powerPreference,
        dumpShaders: options.debug?.dumpShaders,
        gemmKernel: options.debug?.gemmKernel === 'auto' ? null : (options.debug?.gemmKernel ?? null),
      });
      if (want === 'webgpu') return new Engine(gpu, 'requested', gpu.adapter);
      if (!gpu.adapter.software) return new Engine(gpu, 'auto: hardware WebGPU adapter found', gpu.adapter);
      why = `only a software WebGPU adapter (${gpu.description}), slower than wasm on the same CPU; ask for backend 'webgpu' to use it`;
      gpu.dispose();
    } catch (e) {
      if (want === 'webgpu' || !(e instanceof SmoothgeoError) || e.code !== 'BACKEND_UNAVAILABLE') throw e;
      why = `WebGPU unavailable (${e.message})`;
    }
    try {
      return new Engine(await WasmBackend.create(o.threads), `auto: ${why}; using the wasm backend`, null);
    } catch (e) {
      if (!(e instanceof SmoothgeoError) || e.code !== 'BACKEND_UNAVAILABLE') throw e;
      return new Engine(
        new CpuBackend(),
        `auto: ${why}; wasm unavailable (${e.message}); using the float64 cpu backend`,
        null,
      );
    }
  }

  get backend(): BackendName {
    return this.impl.name;
  }

  /** Bumps when the GPU device is replaced after a loss, so models upload their weights again. */
  get generation(): number {
    return this.impl.generation;
  }

  /**
   * GPU memory held by this engine (bytes now, and the peak since the last reset): its buffer pool and its
   * uniform arena (`uniformBytes`, at most 128 KiB); null on cpu. Buffers are pooled and reused across calls,
   * so this is what the engine keeps on the device.
   */
  memory(): MemoryUsage | null {
    return this.impl.memory();
  }
  resetPeakMemory(): void {
    this.impl.resetPeakMemory();
  }

  /**
   * Runs `fn` (any calls on models of this engine) and returns its result with the GPU time of every kernel
   * it dispatched, from timestamp queries: `{ result, supported: true, kernels: [{ label, shapes, ms }],
   * totalMs }`. Where the adapter has no 'timestamp-query' (or on cpu) it says so: `{ result, supported:
   * false, reason }`. Profiled calls give each dispatch a compute pass of its own, so they run a little slower.
   */
  async profile<T>(fn: () => Promise<T>): Promise<Profile<T>> {
    return this.impl.profile(fn);
  }

  /**
   * Returns the buffer pool's idle device buffers to the driver now; they are otherwise kept for reuse
   * (up to 512 MiB) until dispose(). Returns the bytes freed (0 on cpu). The pool also trims itself when
   * the device reports running out of memory.
   */
  trim(): number {
    return this.impl.trim();
  }

  /** One line: backend, adapter and why. */
  describe(): string {
    return `backend ${this.backend} — ${this.impl.description} (${this.reason})`;
  }

  /** @internal The backend for the next call; a lost GPU device is replaced here. */
  async backendForCall(): Promise<Backend> {
    await this.impl.prepare();
    return this.impl;
  }

  /** Frees the GPU device; the engine cannot be used afterwards. */
  dispose(): void {
    this.impl.dispose();
  }
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  return Engine.create(options);
}
