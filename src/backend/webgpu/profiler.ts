// Per-kernel GPU times from timestamp queries. While profiling, the context gives each dispatch a compute pass
// of its own whose beginning and end write two timestamps into a query set; at the readback the set is
// resolved into a buffer that travels with the call's results through the same staging buffer (still one
// submit and one mapping per call). Passes of their own cost some GPU time, so profiled calls run a little
// slower than unprofiled ones; the times are those of each kernel alone.

/** The GPU time of one dispatch. */
export interface KernelTime {
  label: string;
  shapes: string;
  /** Nanoseconds between the beginning and the end of its pass, as the adapter's timestamps say. */
  ns: number;
}

/**
 * Dispatches timed per call (two queries each: WebGPU caps a query set at 4096 queries). Dispatches past this
 * many in one call are left untimed and counted in `untimed`.
 */
const CAPACITY = 2048;

export class Profiler {
  readonly times: KernelTime[] = [];
  /** Dispatches that ran past the query set's capacity within one call. */
  untimed = 0;
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private pending: { label: string; shapes: string }[] = [];

  constructor(
    private readonly device: GPUDevice,
    resolveUsage: number,
  ) {
    this.querySet = device.createQuerySet({
      label: 'smoothgeo profiler timestamps',
      type: 'timestamp',
      count: CAPACITY * 2,
    });
    this.resolveBuffer = device.createBuffer({
      label: 'smoothgeo profiler resolve',
      size: CAPACITY * 2 * 8,
      usage: resolveUsage,
    });
  }

  /** The timestamp writes for the next dispatch's pass, or null when this call's slots are used up. */
  slot(label: string, shapes: string): GPUComputePassTimestampWrites | null {
    const i = this.pending.length;
    if (i >= CAPACITY) {
      this.untimed++;
      return null;
    }
    this.pending.push({ label, shapes });
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the resolve of this call's timestamps; returns the buffer to read back with the results. */
  resolve(encoder: GPUCommandEncoder): { buffer: GPUBuffer; bytes: number } | null {
    const n = this.pending.length;
    if (n === 0) return null;
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    return { buffer: this.resolveBuffer, bytes: 2 * n * 8 };
  }

  /** Turns the read-back timestamps of the call into kernel times. */
  collect(raw: ArrayBuffer): void {
    const t = new BigUint64Array(raw);
    this.pending.forEach((k, i) => {
      // Some adapters clamp or reorder timestamps across passes; a negative span reads as zero, never less.
      const ns = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
      this.times.push({ ...k, ns });
    });
    this.pending = [];
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
