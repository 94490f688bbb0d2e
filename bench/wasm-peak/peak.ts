// The wasm SIMD128 multiply/add peak of this CPU, measured in process (AssemblyScript, compiled by
// bench/wasm-peak/index.mjs) with several loop shapes, the best taken, since which one reaches the peak depends
// on the core: how many ports take a multiply or an add and at what latency (Golden Cove adds on more ports
// than it multiplies, at 2–3 cycles against 4), how many v128 registers V8 leaves (x64: 15, one its
// scratch), and whether the multiply sits on the loop-carried chain. Two families: dependent chains
// a ← a·m + c (12, 13, 16, 24 of them, one unrolled, independent mul and add streams), and accumulating
// shapes c ← c + x·b with x, b loaded from L1 as the kernels do (on the Xeon of the bench, only the latter
// reach what the convolution kernels run at: 34.7 against 30.2 GFLOP/s at best for the chains).
// Every loop is f32x4.mul and f32x4.add only (the SIMD128 build's kernels have no fused multiply-add),
// 4 FLOP per instruction; FLOP says each loop's FLOP per iteration.

/** FLOP per loop iteration of the last shape run. */
export let FLOP: i32 = 0;

// Values stay in float32's normal range for any iteration count: m·a decays by 6e-8 a step, a + c grows by 1e-7.
const M: f32 = 0.99999994, C: f32 = 1e-7;

@inline function sum4(a: v128, b: v128, c: v128, d: v128): f32 {
  const s = f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/** 12 chains a ← a·m + c (mul then add, dependent): 96 FLOP per iteration. */
export function chains12(iters: i32): f32 {
  const m = f32x4.splat(M), c = f32x4.splat(C);
  let a0 = f32x4.splat(1), a1 = f32x4.splat(1.1), a2 = f32x4.splat(1.2), a3 = f32x4.splat(1.3);
  let a4 = f32x4.splat(1.4), a5 = f32x4.splat(1.5), a6 = f32x4.splat(1.6), a7 = f32x4.splat(1.7);
  let a8 = f32x4.splat(1.8), a9 = f32x4.splat(1.9), a10 = f32x4.splat(2.0), a11 = f32x4.splat(2.1);
  for (let i = 0; i < iters; i++) {
    a0 = f32x4.add(f32x4.mul(a0, m), c); a1 = f32x4.add(f32x4.mul(a1, m), c);
    a2 = f32x4.add(f32x4.mul(a2, m), c); a3 = f32x4.add(f32x4.mul(a3, m), c);
    a4 = f32x4.add(f32x4.mul(a4, m), c); a5 = f32x4.add(f32x4.mul(a5, m), c);
    a6 = f32x4.add(f32x4.mul(a6, m), c); a7 = f32x4.add(f32x4.mul(a7, m), c);
    a8 = f32x4.add(f32x4.mul(a8, m), c); a9 = f32x4.add(f32x4.mul(a9, m), c);
    a10 = f32x4.add(f32x4.mul(a10, m), c); a11 = f32x4.add(f32x4.mul(a11, m), c);
  }
  FLOP = 96;
  return sum4(f32x4.add(a0, a1), f32x4.add(a2, a3), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
}

/** The 12 chains unrolled twice (half the loop overhead): 192 FLOP per iteration. */
export function chains12x2(iters: i32): f32 {
  const m = f32x4.splat(M), c = f32x4.splat(C);
  let a0 = f32x4.splat(1), a1 = f32x4.splat(1.1), a2 = f32x4.splat(1.2), a3 = f32x4.splat(1.3);
  let a4 = f32x4.splat(1.4), a5 = f32x4.splat(1.5), a6 = f32x4.splat(1.6), a7 = f32x4.splat(1.7);
  let a8 = f32x4.splat(1.8), a9 = f32x4.splat(1.9), a10 = f32x4.splat(2.0), a11 = f32x4.splat(2.1);
  for (let i = 0; i < iters; i++) {
    for (let u = 0; u < 2; u++) {
      a0 = f32x4.add(f32x4.mul(a0, m), c); a1 = f32x4.add(f32x4.mul(a1, m), c);
      a2 = f32x4.add(f32x4.mul(a2, m), c); a3 = f32x4.add(f32x4.mul(a3, m), c);
      a4 = f32x4.add(f32x4.mul(a4, m), c); a5 = f32x4.add(f32x4.mul(a5, m), c);
      a6 = f32x4.add(f32x4.mul(a6, m), c); a7 = f32x4.add(f32x4.mul(a7, m), c);
      a8 = f32x4.add(f32x4.mul(a8, m), c); a9 = f32x4.add(f32x4.mul(a9, m), c);
      a10 = f32x4.add(f32x4.mul(a10, m), c); a11 = f32x4.add(f32x4.mul(a11, m), c);
    }
  }
  FLOP = 192;
  return sum4(f32x4.add(a0, a1), f32x4.add(a2, a3), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
}

/** 13 chains (all 15 registers with m and c): 104 FLOP per iteration. */
export function chains13(iters: i32): f32 {
  const m = f32x4.splat(M), c = f32x4.splat(C);
  let a0 = f32x4.splat(1), a1 = f32x4.splat(1.1), a2 = f32x4.splat(1.2), a3 = f32x4.splat(1.3);
  let a4 = f32x4.splat(1.4), a5 = f32x4.splat(1.5), a6 = f32x4.splat(1.6), a7 = f32x4.splat(1.7);
  let a8 = f32x4.splat(1.8), a9 = f32x4.splat(1.9), a10 = f32x4.splat(2.0), a11 = f32x4.splat(2.1), a12 = f32x4.splat(2.2);
  for (let i = 0; i < iters; i++) {
    a0 = f32x4.add(f32x4.mul(a0, m), c); a1 = f32x4.add(f32x4.mul(a1, m), c);
    a2 = f32x4.add(f32x4.mul(a2, m), c); a3 = f32x4.add(f32x4.mul(a3, m), c);
    a4 = f32x4.add(f32x4.mul(a4, m), c); a5 = f32x4.add(f32x4.mul(a5, m), c);
    a6 = f32x4.add(f32x4.mul(a6, m), c); a7 = f32x4.add(f32x4.mul(a7, m), c);
    a8 = f32x4.add(f32x4.mul(a8, m), c); a9 = f32x4.add(f32x4.mul(a9, m), c);
    a10 = f32x4.add(f32x4.mul(a10, m), c); a11 = f32x4.add(f32x4.mul(a11, m), c);
    a12 = f32x4.add(f32x4.mul(a12, m), c);
  }
  FLOP = 104;
  return sum4(f32x4.add(a0, a1), f32x4.add(a2, a3), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(f32x4.add(a8, a9), f32x4.add(f32x4.add(a10, a11), a12)));
}

/** 16 chains: more than the registers (V8 spills some), in case the core hides the reloads: 128 FLOP per iteration. */
export function chains16(iters: i32): f32 {
  const m = f32x4.splat(M), c = f32x4.splat(C);
  let a0 = f32x4.splat(1), a1 = f32x4.splat(1.1), a2 = f32x4.splat(1.2), a3 = f32x4.splat(1.3);
  let a4 = f32x4.splat(1.4), a5 = f32x4.splat(1.5), a6 = f32x4.splat(1.6), a7 = f32x4.splat(1.7);
  let a8 = f32x4.splat(1.8), a9 = f32x4.splat(1.9), a10 = f32x4.splat(2.0), a11 = f32x4.splat(2.1);
  let a12 = f32x4.splat(2.2), a13 = f32x4.splat(2.3), a14 = f32x4.splat(2.4), a15 = f32x4.splat(2.5);
  for (let i = 0; i < iters; i++) {
    a0 = f32x4.add(f32x4.mul(a0, m), c); a1 = f32x4.add(f32x4.mul(a1, m), c);
    a2 = f32x4.add(f32x4.mul(a2, m), c); a3 = f32x4.add(f32x4.mul(a3, m), c);
    a4 = f32x4.add(f32x4.mul(a4, m), c); a5 = f32x4.add(f32x4.mul(a5, m), c);
    a6 = f32x4.add(f32x4.mul(a6, m), c); a7 = f32x4.add(f32x4.mul(a7, m), c);
    a8 = f32x4.add(f32x4.mul(a8, m), c); a9 = f32x4.add(f32x4.mul(a9, m), c);
    a10 = f32x4.add(f32x4.mul(a10, m), c); a11 = f32x4.add(f32x4.mul(a11, m), c);
    a12 = f32x4.add(f32x4.mul(a12, m), c); a13 = f32x4.add(f32x4.mul(a13, m), c);
    a14 = f32x4.add(f32x4.mul(a14, m), c); a15 = f32x4.add(f32x4.mul(a15, m), c);
  }
  FLOP = 128;
  return sum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)),
    f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)), f32x4.add(f32x4.add(a12, a13), f32x4.add(a14, a15)));
}

/** 24 chains (spilling more): 192 FLOP per iteration. */
export function chains24(iters: i32): f32 {
  const m = f32x4.splat(M), c = f32x4.splat(C);
  let a0 = f32x4.splat(1), a1 = f32x4.splat(1.1), a2 = f32x4.splat(1.2), a3 = f32x4.splat(1.3);
  let a4 = f32x4.splat(1.4), a5 = f32x4.splat(1.5), a6 = f32x4.splat(1.6), a7 = f32x4.splat(1.7);
  let a8 = f32x4.splat(1.8), a9 = f32x4.splat(1.9), a10 = f32x4.splat(2.0), a11 = f32x4.splat(2.1);
  let b0 = f32x4.splat(2.2), b1 = f32x4.splat(2.3), b2 = f32x4.splat(2.4), b3 = f32x4.splat(2.5);
  let b4 = f32x4.splat(2.6), b5 = f32x4.splat(2.7), b6 = f32x4.splat(2.8), b7 = f32x4.splat(2.9);
  let b8 = f32x4.splat(3.0), b9 = f32x4.splat(3.1), b10 = f32x4.splat(3.2), b11 = f32x4.splat(3.3);
  for (let i = 0; i < iters; i++) {
    a0 = f32x4.add(f32x4.mul(a0, m), c); a1 = f32x4.add(f32x4.mul(a1, m), c);
    a2 = f32x4.add(f32x4.mul(a2, m), c); a3 = f32x4.add(f32x4.mul(a3, m), c);
    a4 = f32x4.add(f32x4.mul(a4, m), c); a5 = f32x4.add(f32x4.mul(a5, m), c);
    a6 = f32x4.add(f32x4.mul(a6, m), c); a7 = f32x4.add(f32x4.mul(a7, m), c);
    a8 = f32x4.add(f32x4.mul(a8, m), c); a9 = f32x4.add(f32x4.mul(a9, m), c);
    a10 = f32x4.add(f32x4.mul(a10, m), c); a11 = f32x4.add(f32x4.mul(a11, m), c);
    b0 = f32x4.add(f32x4.mul(b0, m), c); b1 = f32x4.add(f32x4.mul(b1, m), c);
    b2 = f32x4.add(f32x4.mul(b2, m), c); b3 = f32x4.add(f32x4.mul(b3, m), c);
    b4 = f32x4.add(f32x4.mul(b4, m), c); b5 = f32x4.add(f32x4.mul(b5, m), c);
    b6 = f32x4.add(f32x4.mul(b6, m), c); b7 = f32x4.add(f32x4.mul(b7, m), c);
    b8 = f32x4.add(f32x4.mul(b8, m), c); b9 = f32x4.add(f32x4.mul(b9, m), c);
    b10 = f32x4.add(f32x4.mul(b10, m), c); b11 = f32x4.add(f32x4.mul(b11, m), c);
  }
  FLOP = 192;
  const a = sum4(f32x4.add(a0, a1), f32x4.add(a2, a3), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
  return a + sum4(f32x4.add(b0, b1), f32x4.add(b2, b3), f32x4.add(f32x4.add(b4, b5), f32x4.add(b6, b7)), f32x4.add(f32x4.add(b8, b9), f32x4.add(b10, b11)));
}

/**
 * Independent streams: 6 multiply chains a ← a·m and 7 add chains b ← b + c (no mul→add dependency, each op
 * waits only on its own chain; as in a GEMM, where the adds' inputs are long ready): 4·13 = 52 FLOP per iteration,
 * 6 multiplies to 7 adds.
 */
export function split13(iters: i32): f32 {
  const m = f32x4.splat(M), c = f32x4.splat(C);
  let a0 = f32x4.splat(1), a1 = f32x4.splat(1.1), a2 = f32x4.splat(1.2), a3 = f32x4.splat(1.3);
  let a4 = f32x4.splat(1.4), a5 = f32x4.splat(1.5);
  let b0 = f32x4.splat(1.6), b1 = f32x4.splat(1.7), b2 = f32x4.splat(1.8), b3 = f32x4.splat(1.9);
  let b4 = f32x4.splat(2.0), b5 = f32x4.splat(2.1), b6 = f32x4.splat(2.2);
  for (let i = 0; i < iters; i++) {
    a0 = f32x4.mul(a0, m); b0 = f32x4.add(b0, c); a1 = f32x4.mul(a1, m); b1 = f32x4.add(b1, c);
    a2 = f32x4.mul(a2, m); b2 = f32x4.add(b2, c); a3 = f32x4.mul(a3, m); b3 = f32x4.add(b3, c);
    a4 = f32x4.mul(a4, m); b4 = f32x4.add(b4, c); a5 = f32x4.mul(a5, m); b5 = f32x4.add(b5, c);
    b6 = f32x4.add(b6, c);
  }
  FLOP = 52;
  return sum4(f32x4.add(a0, a1), f32x4.add(a2, a3), f32x4.add(a4, a5), f32x4.add(f32x4.add(f32x4.add(b0, b1), f32x4.add(b2, b3)), f32x4.add(f32x4.add(b4, b5), b6)));
}

// Accumulating shapes, as the kernels run: the multiplies' inputs are loads from L1 (a 1 KiB window walked
// round), off the critical path, and each accumulator waits only on its own add.

/** Where the loaded window lives (the module's own memory; one page is grown on first use). */
const BUF: usize = 1024;

function ensureBuffer(): void {
  if (memory.size() == 0) memory.grow(1);
  for (let i: usize = 0; i < 1024; i += 4) store<f32>(BUF + i, 1e-3);
}

/**
 * The 4×8 GEMM micro-kernel's instruction mix (kernels/gemm.ts): 4 load32_splat and 2 v128 loads, then
 * 8 accumulators c ← c + x·b: 64 FLOP per iteration.
 */
export function gemm4x8(iters: i32): f32 {
  ensureBuffer();
  let c0 = f32x4.splat(1), c1 = f32x4.splat(1.1), c2 = f32x4.splat(1.2), c3 = f32x4.splat(1.3);
  let c4 = f32x4.splat(1.4), c5 = f32x4.splat(1.5), c6 = f32x4.splat(1.6), c7 = f32x4.splat(1.7);
  for (let i = 0; i < iters; i++) {
    const p = BUF + (<usize>(i & 31) << 5);
    const b0 = v128.load(p), b1 = v128.load(p, 16);
    const x0 = v128.load32_splat(p, 4), x1 = v128.load32_splat(p, 8), x2 = v128.load32_splat(p, 12), x3 = v128.load32_splat(p, 20);
    c0 = f32x4.add(f32x4.mul(x0, b0), c0); c1 = f32x4.add(f32x4.mul(x0, b1), c1);
    c2 = f32x4.add(f32x4.mul(x1, b0), c2); c3 = f32x4.add(f32x4.mul(x1, b1), c3);
    c4 = f32x4.add(f32x4.mul(x2, b0), c4); c5 = f32x4.add(f32x4.mul(x2, b1), c5);
    c6 = f32x4.add(f32x4.mul(x3, b0), c6); c7 = f32x4.add(f32x4.mul(x3, b1), c7);
  }
  FLOP = 64;
  return sum4(f32x4.add(c0, c1), f32x4.add(c2, c3), f32x4.add(c4, c5), f32x4.add(c6, c7));
}

/** 12 accumulators c ← c + load·m (one load per multiply): 96 FLOP per iteration. */
export function acc12(iters: i32): f32 {
  ensureBuffer();
  const m = f32x4.splat(M);
  let c0 = f32x4.splat(1), c1 = f32x4.splat(1.1), c2 = f32x4.splat(1.2), c3 = f32x4.splat(1.3);
  let c4 = f32x4.splat(1.4), c5 = f32x4.splat(1.5), c6 = f32x4.splat(1.6), c7 = f32x4.splat(1.7);
  let c8 = f32x4.splat(1.8), c9 = f32x4.splat(1.9), c10 = f32x4.splat(2.0), c11 = f32x4.splat(2.1);
  for (let i = 0; i < iters; i++) {
    const p = BUF + (<usize>(i & 3) << 6);
    c0 = f32x4.add(f32x4.mul(v128.load(p), m), c0); c1 = f32x4.add(f32x4.mul(v128.load(p, 16), m), c1);
    c2 = f32x4.add(f32x4.mul(v128.load(p, 32), m), c2); c3 = f32x4.add(f32x4.mul(v128.load(p, 48), m), c3);
    c4 = f32x4.add(f32x4.mul(v128.load(p, 64), m), c4); c5 = f32x4.add(f32x4.mul(v128.load(p, 80), m), c5);
    c6 = f32x4.add(f32x4.mul(v128.load(p, 96), m), c6); c7 = f32x4.add(f32x4.mul(v128.load(p, 112), m), c7);
    c8 = f32x4.add(f32x4.mul(v128.load(p, 128), m), c8); c9 = f32x4.add(f32x4.mul(v128.load(p, 144), m), c9);
    c10 = f32x4.add(f32x4.mul(v128.load(p, 160), m), c10); c11 = f32x4.add(f32x4.mul(v128.load(p, 176), m), c11);
  }
  FLOP = 96;
  return sum4(f32x4.add(c0, c1), f32x4.add(f32x4.add(c2, c3), f32x4.add(c4, c5)), f32x4.add(f32x4.add(c6, c7), f32x4.add(c8, c9)), f32x4.add(c10, c11));
}
