// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the exact twin of
// shaders/philox.wgsl: a counter-based generator, so sample s of example b at element i is a pure function
// of (seed, b, s, i) and every backend, chunk size and batch layout draws the same numbers. The 32×32→64
// multiply is done in 16-bit halves, as WGSL must (it has no 64-bit integers).

const M0 = 0xd2511f53,
  M1 = 0xcd9e8d57,
  W0 = 0x9e3779b9,
  W1 = 0xbb67ae85;

/** High 32 bits of a·b for unsigned 32-bit a, b. */
function mulhi(a: number, b: number): number {
  const a0 = a & 0xffff,
    a1 = a >>> 16,
    b0 = b & 0xffff,
    b1 = b >>> 16;
  const lo = a0 * b0,
    mid1 = a1 * b0,
    mid2 = a0 * b1;
  const carry = ((lo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/** Four 32-bit words from the counter (c0..c3) and key (k0, k1). */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
): [number, number, number, number] {
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0),
      lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2),
      lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/** A seed (integer in [0, 2^53)) as the two key words. */
export function seedKey(seed: number): [number, number] {
  return [(seed % 2 ** 32) >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

/** 23 random bits → uniform in the open interval (0, 1), exactly representable in float32. */
export function uniform01(bits: number): number {
  return ((bits >>> 9) + 0.5) * 2 ** -23;
}

/**
 * Standard normal by the inverse CDF: z = √2·erfinv(2u − 1), with Giles' single-precision erfinv
 * ("Approximating the erfinv function", GPU Computing Gems, 2011). One uniform per normal and no
 * trigonometry, whose WGSL accuracy is loose (2⁻¹¹ absolute); 1 − x² is formed as 4u(1 − u) to keep
 * precision in the tails.
 */
export function normalFromUniform(u: number): number {
  const x = 2 * u - 1;
  let w = -Math.log(4 * u * (1 - u));
  let p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-8;
    p = 3.43273939e-7 + p * w;
    p = -3.5233877e-6 + p * w;
    p = -4.39150654e-6 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  return Math.SQRT2 * p * x;
}

/**
 * The counter layout shared with the WGSL: word 0 = element/4 (each call yields four elements),
 * word 1 = sample, word 2 = example id, word 3 = stream (0: per-element noise, 1: per-sample radius).
 */
export function elementBits(key: [number, number], example: number, sample: number, element: number): number {
  return philox4x32(Math.floor(element / 4), sample, example, 0, key[0], key[1])[element % 4];
}

export function radiusBits(key: [number, number], example: number, sample: number): number {
  return philox4x32(0, sample, example, 1, key[0], key[1])[0];
}
