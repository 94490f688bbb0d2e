// What a kernel family needs from the backend to record its dispatches, and the tensor and binding helpers
// every family shares. Families (the other files here) turn one primitive of the Backend contract into
// dispatches of their programs; they know nothing of devices, pools or pipelines.
import type { BTensor, DType } from '../../backend.js';
import { sizeOf } from '../../../tensor.js';
import type { Dispatch } from '../context.js';
import type { GemmPlanOptions } from '../gemm-plan.js';
import type { Bound } from '../program.js';

export class GpuTensor implements BTensor {
  readonly size: number;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly buffer: GPUBuffer,
    readonly label: string,
  ) {
    this.size = sizeOf(shape);
  }
}

export interface Recorder {
  /** A new tensor written by a kernel of the open encoder. */
  alloc(shape: readonly number[], label: string, dtype?: DType): GpuTensor;
  /** `into` (to accumulate into, checked for size) or a new output. */
  output(
    into: BTensor | null | undefined,
    shape: readonly number[],
    label: string,
  ): { out: GpuTensor; accumulate: boolean };
  release(...ts: (BTensor | null | undefined)[]): void;
  run(d: Dispatch): void;
  /** Workgroups of `size` threads covering `total` items, folded into y past the per-dimension limit. */
  grid1d(total: number, size: number): [number, number, number];
  /** What the GEMM planner may read besides the shape: the adapter's kind, a forced kernel. */
  readonly gemmPlanOptions: GemmPlanOptions;
}

export const buf = (t: BTensor): GPUBuffer => (t as GpuTensor).buffer;

/** A tensor bound as `type`; its dtype must match the shader's element type (vec4f views f32 data). */
export function bind(name: string, t: BTensor, type: 'f32' | 'i32' | 'vec4f' = 'f32'): Bound {
  const want = type === 'i32' ? 'i32' : 'f32';
  if (t.dtype !== want) throw new Error(`binding '${name}' expects ${want} but ${t.label} is ${t.dtype}`);
  return { buffer: buf(t), type };
}

/** An optional f32 binding: absent (null) when the tensor is. */
export const opt = (name: string, t: BTensor | null | undefined): Bound => (t ? bind(name, t) : null);
