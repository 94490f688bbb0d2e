// The types of kernels.generated.ts, which build.mjs writes from kernels/*.ts (and .gitignore leaves out):
// here so that lint and tsc pass in a fresh clone before the first build.
/** The kernels on an ordinary memory, as base64 of the .wasm bytes. */
export declare const KERNELS_WASM_BASE64: string;
/** The kernels on a shared memory (the thread pool's build). */
export declare const KERNELS_SHARED_WASM_BASE64: string;
/** The relaxed-SIMD builds of the same two (multiply-adds as f32x4.relaxed_madd). */
export declare const KERNELS_RELAXED_WASM_BASE64: string;
export declare const KERNELS_RELAXED_SHARED_WASM_BASE64: string;
