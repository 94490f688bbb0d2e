// Every error the library throws on purpose is a SmoothgeoError. `code` is stable (tools may branch on
// it); the message names what was wrong and what was expected.

export type ErrorCode =
  | 'INVALID_ARGUMENT' // a shape, value or option of a public call
  | 'INVALID_SAFETENSORS' // a malformed or hostile safetensors file
  | 'INVALID_SPEC' // a model spec that is malformed or does not fit its weights
  | 'INVALID_ONNX' // an ONNX file that is malformed, hostile, or uses what the importer does not support
  | 'BACKEND_UNAVAILABLE' // the requested backend cannot run here
  | 'GPU_ERROR' // a validation or out-of-memory error raised by the GPU, naming the kernel
  | 'DEVICE_LOST' // the GPU device was lost; the next call makes a fresh one
  | 'LIMIT_EXCEEDED' // a size past a device limit, or work past a documented limit (src/limits.ts)
  | 'NON_FINITE' // a result came out Infinity or NaN; the message names the layer where it first appeared
  | 'ABORTED'; // the call's AbortSignal fired

export class SmoothgeoError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SmoothgeoError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new SmoothgeoError(code, message);
}
