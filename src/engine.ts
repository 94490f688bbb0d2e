import type { Backend, BackendName } from './backend/backend.js';
import { CpuBackend } from './backend/cpu.js';
import { WasmBackend } from './backend/wasm/wasm.js';
import { WebGPUBackend, requestWebGPU, type AdapterSummary } from './backend/webgpu/webgpu.js';
import { fail, SmoothgeoError } from './errors.js';
import { choice, options as validateOptions, show } from './validate.js';

export interface EngineOptions {
  /**
   * 'auto': a hardware WebGPU adapter, else the wasm backend (a software adapter such as SwiftShader is
   * slower than wasm on the same CPU, so it is used only when asked for by name), else the float64 cpu
   * reference; describe() says which and why. Default 'auto'.
   */
  backend?: 'auto' | BackendName;
  /** The WebGPU entry point: navigator.gpu in browsers; in Node, `create([])` of npm `webgpu` (loaded when omitted). */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Threads of the wasm backend (Node only; browsers run it on one). Default 1 (see src/backend/wasm/threads.ts). */
  threads?: number;
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
    const o = validateOptions('createEngine', options, ['backend', 'gpu', 'powerPreference', 'threads']) as EngineOptions;
    const want = choice('createEngine: backend', o.backend, ['auto', 'webgpu', 'wasm', 'cpu'] as const, 'auto');
    choice('createEngine: powerPreference', o.powerPreference, ['low-power', 'high-performance'] as const, 'high-performance');
    if (o.gpu === null || (o.gpu !== undefined && typeof (o.gpu as GPU).requestAdapter !== 'function')) {
      fail('INVALID_ARGUMENT', `createEngine: gpu must be a WebGPU entry point (navigator.gpu) with requestAdapter(), got ${show(o.gpu)}`);
    }
    options = o;
    if (want === 'cpu') return new Engine(new CpuBackend(), 'requested', null);
    if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1 && o.threads <= 256)) {
      fail('INVALID_ARGUMENT', `createEngine: threads must be an integer from 1 to 256, got ${show(o.threads)}`);
    }
    if (want === 'wasm') return new Engine(await WasmBackend.create(o.threads), 'requested', null);
    let why: string;
    try {
      const gpu = await requestWebGPU(options.gpu, options.powerPreference);
      if (want === 'webgpu') return new Engine(gpu, 'requested', gpu.adapter);
      if (!gpu.adapter.software) return new Engine(gpu, 'auto: hardware WebGPU adapter found', gpu.adapter);
      why = `only a software WebGPU adapter (${gpu.description}), slower than wasm on the same CPU; ask for backend 'webgpu' to use it`;
      gpu.destroy();
    } catch (e) {
      if (want === 'webgpu' || !(e instanceof SmoothgeoError) || e.code !== 'BACKEND_UNAVAILABLE') throw e;
      why = `WebGPU unavailable (${e.message})`;
    }
    try {
      return new Engine(await WasmBackend.create(o.threads), `auto: ${why}; using the wasm backend`, null);
    } catch (e) {
      if (!(e instanceof SmoothgeoError) || e.code !== 'BACKEND_UNAVAILABLE') throw e;
      return new Engine(new CpuBackend(), `auto: ${why}; wasm unavailable (${e.message}); using the float64 cpu backend`, null);
    }
  }

  get backend(): BackendName { return this.impl.name; }

  /** Bumps when the GPU device is replaced after a loss, so models upload their weights again. */
  get generation(): number {
    return this.impl instanceof WebGPUBackend ? this.impl.generation : 0;
  }

  /**
   * GPU memory held by this engine (bytes now, and the peak since the last reset): its buffer pool and its
   * uniform arena (`uniformBytes`, at most 128 KiB); null on cpu. Buffers are pooled and reused across calls,
   * so this is what the engine keeps on the device.
   */
  memory(): { allocatedBytes: number; peakBytes: number; uniformBytes: number } | null {
    if (this.impl instanceof WasmBackend) {
      const m = this.impl.memoryUsage();
      return { allocatedBytes: m.inUse, peakBytes: m.peak, uniformBytes: 0 };
    }
    return this.impl instanceof WebGPUBackend ? this.impl.memory() : null;
  }
  resetPeakMemory(): void {
    if (this.impl instanceof WebGPUBackend) this.impl.resetPeakMemory();
    if (this.impl instanceof WasmBackend) this.impl.resetPeakMemory();
  }

  /**
   * Returns the buffer pool's idle device buffers to the driver now; they are otherwise kept for reuse
   * (up to 512 MiB) until dispose(). Returns the bytes freed (0 on cpu). The pool also trims itself when
   * the device reports running out of memory.
   */
  trim(): number {
    return this.impl instanceof WebGPUBackend ? this.impl.trim() : 0;
  }

  /** One line: backend, adapter and why. */
  describe(): string {
    return `backend ${this.backend} — ${this.impl.description} (${this.reason})`;
  }

  /** @internal The backend for the next call; on webgpu a lost device is replaced here. */
  async backendForCall(): Promise<Backend> {
    if (this.impl instanceof WebGPUBackend) await this.impl.ensureDevice();
    return this.impl;
  }

  /** Frees the GPU device; the engine cannot be used afterwards. */
  dispose(): void {
    if (this.impl instanceof WebGPUBackend) this.impl.destroy();
    if (this.impl instanceof WasmBackend) this.impl.dispose();
  }
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  return Engine.create(options);
}
