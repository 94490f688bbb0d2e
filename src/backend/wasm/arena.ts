import { fail } from '../../errors.js';

const PAGE = 65536;
const ALIGN = 64;

/**
 * Hands out 64-byte-aligned byte ranges of one WebAssembly.Memory. Freed ranges go to an exact-size free
 * list (tensor sizes repeat from call to call, so reuse is by size class = size rounded up to 64 bytes);
 * new ranges come from a bump pointer, growing the memory in steps of at least 1/4 of its size.
 */
export class Arena {
  private top: number;
  private readonly free = new Map<number, number[]>();
  /** Bytes handed out and not yet freed, and the most at any time: what `memory()` reports. */
  inUse = 0;
  peak = 0;

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
    readonly maxBytes: number,
  ) {
    this.top = Math.ceil(base / ALIGN) * ALIGN;
  }

  static sizeClass(bytes: number): number {
    return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  }

  /** `what` names the allocation in an error (formatted only then: allocations are on every op's hot path). */
  alloc(bytes: number, what: () => string): number {
    const size = Arena.sizeClass(bytes);
    const list = this.free.get(size);
    let at: number;
    if (list?.length) at = list.pop()!;
    else {
      at = this.top;
      this.ensure(at + size, what);
      this.top = at + size;
    }
    this.inUse += size;
    this.peak = Math.max(this.peak, this.inUse);
    return at;
  }

  release(at: number, bytes: number): void {
    const size = Arena.sizeClass(bytes);
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(at);
    this.inUse -= size;
  }

  /** Bytes of linear memory in use by the arena (static data included). */
  get reserved(): number {
    return this.top;
  }

  private ensure(end: number, what: () => string): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    if (end > this.maxBytes) {
      fail(
        'LIMIT_EXCEEDED',
        `${what()} needs the wasm backend's linear memory to reach ${end} bytes, past its ${this.maxBytes}-byte maximum; use a smaller batch or model`,
      );
    }
    const want = Math.min(this.maxBytes, Math.max(end, have + have / 4));
    try {
      this.memory.grow(Math.ceil((want - have) / PAGE));
    } catch (e) {
      fail(
        'LIMIT_EXCEEDED',
        `${what()}: the wasm backend could not grow its memory to ${want} bytes (${(e as Error).message}); use a smaller batch or model`,
      );
    }
  }
}
