// Owns one GPUDevice and everything that lives on it: the buffer pool, the uniform arena, the pipeline cache
// and the open command encoder. Kernels are recorded into compute passes submitted every SUBMIT_EVERY
// dispatches (so the GPU runs while the host records); `read` closes the last, copies the results into one
// staging buffer, submits and maps once.
import { fail, SmoothgeoError } from '../../errors.js';
import { composeProgram, packUniforms, programKey, type Bound, type ConstValue, type Program } from './program.js';
import { Profiler, type KernelTime } from './profiler.js';

/** One dispatch: a program, its specialisation, its buffers and uniform values, and where it runs. */
export interface Dispatch {
  program: Program;
  label: string; // kernel name, used for every GPU object and in errors
  shapes: string; // the operands' shapes, for errors
  consts: Readonly<Record<string, ConstValue>>;
  /** One entry per binding the program declares, in its order; null where absent. */
  bindings: readonly Bound[];
  uniforms: Readonly<Record<string, number>>;
  workgroups: [number, number, number];
}

/** Called with every shader the context composes (a pipeline-cache miss): its key, label and full text. */
export type ShaderDump = (key: string, label: string, code: string) => void;

/** An error scope to await at the next readback, with what it covered. */
interface Check {
  /** The scope's outcome, settled at once: a rejection is held here, never left unhandled until the readback. */
  outcome: Promise<{ error: GPUError | null; rejected: unknown }>;
  what: string;
  outOfMemory?: boolean;
  /** A shader compilation: its module and text, to show the compiler's messages against the source lines. */
  shader?: { module: GPUShaderModule; code: string };
}

function check(scope: Promise<GPUError | null>, what: string, outOfMemory = false): Check {
  const outcome = scope.then(
    (error) => ({ error, rejected: null }),
    (rejected: unknown) => ({ error: null, rejected: rejected ?? 'rejected' }),
  );
  return { outcome, what, outOfMemory };
}

interface Cached {
  /** Null until createComputePipelineAsync resolves (and for good if it failed). */
  pipeline: GPUComputePipeline | null;
  layout: GPUBindGroupLayout;
  /** Settles when the pipeline is made or has failed; never rejects. */
  ready: Promise<void>;
}

/** A dispatch with everything but its pass commands: encoded at once, or later when its pipeline is ready. */
interface Recorded {
  cached: Cached;
  group: GPUBindGroup;
  workgroups: [number, number, number];
  label: string;
  timed: GPUComputePassTimestampWrites | null;
}

// WebGPU's flag values, spelled out: Node's Dawn does not install GPUBufferUsage & co. as globals, and the
// library does not touch globalThis.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const STAGE_COMPUTE = 0x4;
const MAP_MODE_READ = 0x1;
const QUERY_RESOLVE = 0x200;
const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
const READ_USAGE = USAGE.MAP_READ | USAGE.COPY_DST;
const ARENA_BLOCK = 64 * 1024;
/**
 * Uniform blocks one submission may fill (512 dispatches at 256-byte slots). Past it, the recorded work is
 * submitted and the blocks are reused, so the arena stays at this size however many chunks a call runs.
 */
export const ARENA_MAX_BLOCKS = 2;
const MAX_POOLED_BYTES = 512 * 1024 * 1024;
/**
 * Dispatches recorded between submits inside one call: the GPU starts on the first ones while the host records
 * the rest (a SmoothGrad call records ~1,000), instead of waiting for the readback's submit. A few dozen keeps
 * the submits' host cost (~10 µs each) small against the recording of the dispatches they carry.
 */
export const SUBMIT_EVERY = 48;

/**
 * Buffers keyed by size class and usage. A buffer released while recording may be handed out again in the
 * same encoder only to a kernel output: dispatches run in recording order, so the GPU sees the old reads
 * before the new writes. It must not receive an upload before the submit, because queue.writeBuffer lands
 * before every command of the next submit, earlier readers included; uploads take only submitted buffers.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly recycled = new Map<string, GPUBuffer[]>();
  private pending = new Set<GPUBuffer>();
  private pooledBytes = 0;
  /** Bytes of every buffer this pool created and has not destroyed, and the most it ever held. */
  allocatedBytes = 0;
  peakBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly track: (c: Check) => void,
  ) {}

  static sizeClass(bytes: number): number {
    const b = Math.max(16, bytes);
    if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
    return Math.ceil(b / (1 << 20)) * (1 << 20);
  }

  acquire(bytes: number, usage: number, label: string, gpuWritten = false): GPUBuffer {
    const size = BufferPool.sizeClass(bytes);
    const key = `${usage}:${size}`;
    const again = gpuWritten ? this.recycled.get(key)?.pop() : undefined;
    if (again) {
      this.pending.delete(again); // live again: it must not reach the free list at the submit
      again.label = label;
      return again;
    }
    const reused = this.free.get(key)?.pop();
    if (reused) {
      this.pooledBytes -= size;
      reused.label = label;
      return reused;
    }
    this.device.pushErrorScope('out-of-memory');
    const buf = this.device.createBuffer({ size, usage, label });
    this.allocatedBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.allocatedBytes);
    this.track(check(this.device.popErrorScope(), `allocating ${size} bytes for ${label}`, true));
    return buf;
  }

  release(buf: GPUBuffer): void {
    const key = `${buf.usage}:${buf.size}`;
    if (!this.recycled.has(key)) this.recycled.set(key, []);
    this.recycled.get(key)!.push(buf);
    this.pending.add(buf);
  }

  /** Called after a submit: every buffer released while recording it may now be handed out for anything. */
  afterSubmit(): void {
    this.recycled.clear();
    for (const b of this.pending) {
      if (this.pooledBytes + b.size > MAX_POOLED_BYTES) {
        b.destroy();
        this.allocatedBytes -= b.size;
        continue;
      }
      const key = `${b.usage}:${b.size}`;
      if (!this.free.has(key)) this.free.set(key, []);
      this.free.get(key)!.push(b);
      this.pooledBytes += b.size;
    }
    this.pending.clear();
  }

  /** Destroys every idle buffer (live and just-released ones stay); returns the bytes freed. */
  trim(): number {
    let freed = 0;
    for (const list of this.free.values())
      for (const b of list) {
        b.destroy();
        freed += b.size;
      }
    this.free.clear();
    this.pooledBytes = 0;
    this.allocatedBytes -= freed;
    return freed;
  }

  /** Counts device memory held outside the pool (the uniform arena) in the same totals. */
  account(bytes: number): void {
    this.allocatedBytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.allocatedBytes);
  }

  destroy(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.allocatedBytes = 0;
  }
}

/**
 * Per-dispatch uniforms packed into 64 KiB blocks, written with one writeBuffer per block at submit. At most
 * ARENA_MAX_BLOCKS blocks exist (the context submits before a submission would need more); their bytes are
 * counted in the pool's totals (engine.memory()).
 */
class UniformArena {
  private blocks: { buffer: GPUBuffer; bytes: Uint8Array; used: number }[] = [];
  private spare: GPUBuffer[] = [];
  /** Bytes of the blocks created and not destroyed. */
  bytes = 0;
  constructor(
    private readonly device: GPUDevice,
    private readonly align: number,
    private readonly account: (bytes: number) => void,
  ) {}

  /** Whether `bytes` more would need a block beyond the ARENA_MAX_BLOCKS of this submission. */
  full(bytes: number): boolean {
    const last = this.blocks[this.blocks.length - 1];
    return this.blocks.length >= ARENA_MAX_BLOCKS && last.used + bytes > ARENA_BLOCK;
  }

  alloc(data: ArrayBuffer): { buffer: GPUBuffer; offset: number; size: number } {
    let block = this.blocks[this.blocks.length - 1];
    if (!block || block.used + data.byteLength > ARENA_BLOCK) {
      let buffer = this.spare.pop();
      if (!buffer) {
        buffer = this.device.createBuffer({
          size: ARENA_BLOCK,
          usage: USAGE.UNIFORM | USAGE.COPY_DST,
          label: 'uniform arena',
        });
        this.bytes += ARENA_BLOCK;
        this.account(ARENA_BLOCK);
      }
      block = { buffer, bytes: new Uint8Array(ARENA_BLOCK), used: 0 };
      this.blocks.push(block);
    }
    const offset = block.used;
    block.bytes.set(new Uint8Array(data), offset);
    block.used = Math.ceil((offset + data.byteLength) / this.align) * this.align;
    return { buffer: block.buffer, offset, size: data.byteLength };
  }

  /** Writes the blocks before the submit that uses them; afterwards they may be reused (queue order). */
  flush(queue: GPUQueue): void {
    for (const b of this.blocks) queue.writeBuffer(b.buffer, 0, b.bytes, 0, b.used);
    this.spare.push(...this.blocks.map((b) => b.buffer));
    this.blocks = [];
    // A submission held back for compiling pipelines may have needed more blocks: keep ARENA_MAX_BLOCKS (a
    // destroyed buffer's memory is freed once the work already submitted with it is done).
    while (this.spare.length > ARENA_MAX_BLOCKS) {
      this.spare.pop()!.destroy();
      this.bytes -= ARENA_BLOCK;
      this.account(-ARENA_BLOCK);
    }
  }

  destroy(): void {
    for (const b of [...this.spare, ...this.blocks.map((x) => x.buffer)]) b.destroy();
    this.account(-this.bytes);
    this.bytes = 0;
  }
}

export class GpuContext {
  readonly pool: BufferPool;
  private readonly arena: UniformArena;
  private readonly cache = new Map<string, Cached>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private checks: Check[] = [];
  private deferred: Recorded[] = [];
  private calls = 0;
  private profiler: Profiler | null = null;
  lost: GPUDeviceLostInfo | null = null;
  /** Pipelines compiled so far (cache misses); a cached dispatch composes no text and compiles nothing. */
  compiled = 0;
  /** Queue submits so far (for the bench: submits per call). */
  submits = 0;
  /** Dispatches per submit within a call (SUBMIT_EVERY); 0 submits only at the readback (and when the arena fills). */
  submitEvery = SUBMIT_EVERY;
  private sinceSubmit = 0;

  constructor(
    readonly device: GPUDevice,
    private readonly dumpShader: ShaderDump | null = null,
  ) {
    this.pool = new BufferPool(device, (c) => this.checks.push(c));
    this.arena = new UniformArena(device, device.limits.minUniformBufferOffsetAlignment, (bytes) =>
      this.pool.account(bytes),
    );
    device.lost.then((info) => {
      this.lost = info;
    });
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /**
   * A storage buffer for a tensor, after checking the device's binding-size limit. `gpuWritten`: the
   * buffer will be filled by a kernel of the open encoder, not by an upload (see BufferPool).
   */
  allocate(bytes: number, label: string, gpuWritten = false): GPUBuffer {
    const max = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > max) {
      fail(
        'LIMIT_EXCEEDED',
        `${label} needs ${bytes} bytes, more than this device binds in one storage buffer (${max} bytes); use a smaller batch`,
      );
    }
    return this.pool.acquire(bytes, STORAGE_USAGE, label, gpuWritten);
  }

  write(buffer: GPUBuffer, data: ArrayBufferView): void {
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  dispatch(k: Dispatch): void {
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    if (k.workgroups.some((g) => g > maxGroups)) {
      fail(
        'LIMIT_EXCEEDED',
        `kernel ${k.label} on ${k.shapes} needs workgroups [${k.workgroups.join(', ')}], past the device's ${maxGroups} per dimension; use a smaller batch`,
      );
    }
    const cached = this.pipelineFor(k);
    const uniforms = packUniforms(k.program, k.uniforms);
    // A long call (thousands of chunks) would otherwise grow the arena by a slot per dispatch until its one
    // submit, and keep the GPU idle while the host records: submit what is recorded so far every
    // `submitEvery` dispatches (and when the arena is full) and reuse the blocks. Results are still read back
    // once, at `read`. Not while dispatches wait for a pipeline: those are encoded at the readback.
    const waiting = this.deferred.length > 0;
    if (
      !waiting &&
      (this.arena.full(uniforms.byteLength) || (this.submitEvery > 0 && this.sinceSubmit >= this.submitEvery))
    )
      this.submitRecorded();
    this.sinceSubmit++;
    const slot = this.arena.alloc(uniforms);
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: slot.buffer, offset: slot.offset, size: slot.size } },
    ];
    let binding = 1;
    for (const b of k.bindings) if (b) entries.push({ binding: binding++, resource: { buffer: b.buffer } });

    this.device.pushErrorScope('validation');
    const group = this.device.createBindGroup({ label: k.label, layout: cached.layout, entries });
    // Profiling times each dispatch with the timestamps of a pass of its own; otherwise one pass holds them all.
    const timed = this.profiler?.slot(k.label, k.shapes) ?? null;
    const recorded: Recorded = { cached, group, workgroups: k.workgroups, label: k.label, timed };
    // A pipeline still compiling (createComputePipelineAsync) holds its dispatch, and every later one (order),
    // until the readback; meanwhile the host goes on recording and the compiler works in the background.
    if (waiting || !cached.pipeline) this.deferred.push(recorded);
    else this.encode(recorded);
    this.checks.push(check(this.device.popErrorScope(), `kernel ${k.label} on ${k.shapes}`));
  }

  /** Encodes one recorded dispatch into the open pass (or a timed pass of its own). */
  private encode(d: Recorded): void {
    if (!d.cached.pipeline) return; // its compilation failed: the readback reports it
    // The dispatch's own label reaches traces through its pass (profiling) or a debug group in the shared
    // pass: the pipeline's label names only its key, since one pipeline serves every split count and shape.
    const pass = d.timed
      ? this.openEncoder().beginComputePass({ label: d.label, timestampWrites: d.timed })
      : this.openPass();
    if (!d.timed) pass.pushDebugGroup(d.label);
    pass.setPipeline(d.cached.pipeline);
    pass.setBindGroup(0, d.group);
    pass.dispatchWorkgroups(...d.workgroups);
    if (d.timed) pass.end();
    else pass.popDebugGroup();
  }

  /** Waits for the pipelines that held dispatches back, then encodes those dispatches in recording order. */
  private async encodeDeferred(): Promise<void> {
    while (this.deferred.length) {
      const held = this.deferred;
      await Promise.all(held.map((d) => d.cached.ready));
      if (this.deferred !== held) continue; // (never: calls do not overlap) recorded meanwhile: wait for those too
      this.deferred = [];
      this.device.pushErrorScope('validation');
      for (const d of held) this.encode(d);
      this.checks.push(
        check(this.device.popErrorScope(), `encoding ${held.length} dispatches held for their pipelines`),
      );
    }
  }

  /** Per-kernel GPU times of every dispatch until `stopProfiling` (needs the device feature 'timestamp-query'). */
  startProfiling(): void {
    if (!this.device.features.has('timestamp-query')) throw new Error('this device has no timestamp-query');
    this.profiler = new Profiler(this.device, QUERY_RESOLVE | USAGE.COPY_SRC);
  }

  stopProfiling(): { times: KernelTime[]; untimed: number } {
    const p = this.profiler;
    this.profiler = null;
    if (!p) return { times: [], untimed: 0 };
    p.destroy();
    return { times: p.times, untimed: p.untimed };
  }

  /** Submits everything recorded and reads `buffers` (byte lengths given) back through one staging buffer. */
  async read(buffers: readonly { buffer: GPUBuffer; bytes: number }[]): Promise<ArrayBuffer[]> {
    await this.encodeDeferred();
    const encoder = this.openEncoder();
    this.closePass();
    const timestamps = this.profiler?.resolve(encoder) ?? null;
    if (timestamps) buffers = [...buffers, timestamps];
    const offsets: number[] = [];
    let total = 0;
    for (const b of buffers) {
      offsets.push(total);
      total += Math.ceil(b.bytes / 4) * 4;
    }
    const staging = total > 0 ? this.pool.acquire(total, READ_USAGE, 'readback staging') : null;
    buffers.forEach((b, i) => {
      if (b.bytes) encoder.copyBufferToBuffer(b.buffer, 0, staging!, offsets[i], Math.ceil(b.bytes / 4) * 4);
    });

    this.submit(encoder);

    const checks = this.checks;
    this.checks = [];
    let mapError: unknown = null;
    if (staging)
      await staging.mapAsync(MAP_MODE_READ).catch((e) => {
        mapError = e;
      });
    // A scope that rejects (instead of resolving to an error or null) means the device could not say whether
    // that work succeeded: the results cannot be trusted, so it is an error too, naming the work it covered.
    const errors = await Promise.all(checks.map(async (c) => ({ ...c, ...(await c.outcome) })));
    if (this.lost) {
      fail(
        'DEVICE_LOST',
        `the GPU device was lost (${this.lost.reason}: ${this.lost.message || 'no message'}); the call failed and the next call makes a fresh device`,
      );
    }
    const first = errors.find((e) => e.error);
    const rejected = errors.find((e) => e.rejected);
    if (first || rejected || mapError) {
      if (staging && !mapError) staging.unmap();
      // Out of memory is the device's word on memory pressure: give back the idle buffers so a retry has room.
      if (first?.outOfMemory) this.pool.trim();
      let msg = first
        ? `${first.what}: ${first.error!.message}`
        : rejected
          ? `${rejected.what}: its error scope was rejected (${(rejected.rejected as Error)?.message ?? String(rejected.rejected)}), so whether it ran is unknown`
          : `reading results back: ${String(mapError)}`;
      if (first?.shader) msg += `\n${await compilerMessages(first.shader.module, first.shader.code)}`;
      throw new SmoothgeoError(first?.outOfMemory ? 'LIMIT_EXCEEDED' : 'GPU_ERROR', `WebGPU error in ${msg}`);
    }
    if (!staging) return buffers.map(() => new ArrayBuffer(0));
    const mapped = staging.getMappedRange();
    const out = buffers.map((b, i) => mapped.slice(offsets[i], offsets[i] + b.bytes));
    staging.unmap();
    this.pool.release(staging);
    this.pool.afterSubmit();
    if (timestamps) this.profiler?.collect(out.pop()!);
    return out;
  }

  destroy(): void {
    this.stopProfiling();
    this.pool.destroy();
    this.arena.destroy();
    this.device.destroy();
  }

  private pipelineFor(k: Dispatch): Cached {
    const key = programKey(k.program, k.consts, k.bindings);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const code = composeProgram(k.program, k.consts, k.bindings);
    this.compiled++;
    this.dumpShader?.(key, k.label, code);
    this.device.pushErrorScope('validation');
    const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: STAGE_COMPUTE, buffer: { type: 'uniform' } }];
    let binding = 1;
    k.program.bindings.forEach((decl, i) => {
      if (k.bindings[i])
        entries.push({
          binding: binding++,
          visibility: STAGE_COMPUTE,
          buffer: { type: decl.access === 'read' ? 'read-only-storage' : 'storage' },
        });
    });
    // Named by its key only: the dispatch that compiled it is one of many that will use it.
    const label = `pipeline ${key}`;
    const layout = this.device.createBindGroupLayout({ label, entries });
    const module = this.device.createShaderModule({ label, code });
    // Compiled off the host's path: the call goes on recording (its dispatches held, see dispatch) while the
    // driver compiles, and every pipeline a call needs compiles in parallel.
    const c: Cached = { pipeline: null, layout, ready: Promise.resolve() };
    const what = `compiling kernel ${k.label} (key ${key})`;
    c.ready = this.device
      .createComputePipelineAsync({
        label,
        layout: this.device.createPipelineLayout({ label, bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      })
      .then(
        (pipeline) => {
          c.pipeline = pipeline;
        },
        (e: unknown) => {
          // Held with the other checks: the readback reports it (after the compiler's messages, if any).
          const error = { message: (e as Error)?.message ?? String(e) } as GPUError;
          this.checks.push({ outcome: Promise.resolve({ error, rejected: null }), what, shader: { module, code } });
        },
      );
    this.checks.push({ ...check(this.device.popErrorScope(), what), shader: { module, code } });
    this.cache.set(key, c);
    return c;
  }

  /** Writes the uniforms, submits `encoder`, and lets the pool hand out what was released while recording. */
  private submit(encoder: GPUCommandEncoder): void {
    this.device.pushErrorScope('validation');
    this.arena.flush(this.device.queue);
    this.device.queue.submit([encoder.finish({ label: `smoothgeo call ${this.calls}` })]);
    this.submits++;
    this.sinceSubmit = 0;
    this.checks.push(check(this.device.popErrorScope(), `submitting call ${this.calls}`));
    this.encoder = null;
    this.pool.afterSubmit();
  }

  /** Submits the work recorded so far in the middle of a call; the call goes on in a new encoder (same call number). */
  private submitRecorded(): void {
    if (!this.encoder) return;
    this.closePass();
    const encoder = this.encoder;
    this.submit(encoder);
    this.encoder = this.device.createCommandEncoder({ label: `smoothgeo call ${this.calls} (continued)` });
  }

  /** Uniform arena bytes now (counted in the pool's totals too). */
  get uniformBytes(): number {
    return this.arena.bytes;
  }

  private openEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: `smoothgeo call ${++this.calls}` });
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    this.pass ??= this.openEncoder().beginComputePass({ label: `smoothgeo call ${this.calls} compute` });
    return this.pass;
  }

  private closePass(): void {
    this.pass?.end();
    this.pass = null;
  }
}

/**
 * The compiler's messages (GPUShaderModule.getCompilationInfo) each shown under its numbered source line,
 * with the lines around it: what a failed compile needs to be read.
 */
export async function compilerMessages(module: GPUShaderModule, code: string, context = 2): Promise<string> {
  const info = await module.getCompilationInfo().catch(() => null);
  if (!info || info.messages.length === 0) return 'the compiler gave no messages for this source';
  const lines = code.split('\n');
  const width = String(lines.length).length;
  const out: string[] = [];
  for (const m of info.messages) {
    out.push(`${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`);
    const from = Math.max(1, m.lineNum - context),
      to = Math.min(lines.length, m.lineNum + context);
    for (let n = from; n <= to; n++) {
      out.push(`${n === m.lineNum ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1]}`);
      if (n === m.lineNum) out.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, m.linePos - 1))}^`);
    }
  }
  return out.join('\n');
}
