import { fail } from '../errors.js';
import { DATA_STREAM, uniformAt } from './random.js';

/** Training-time data augmentation: random translations (MNIST digits are centred by centre of mass). */
export interface AugmentOptions {
  /** Largest translation in pixels along each axis: every visit draws dx, dy uniformly from −shift … shift. */
  shift: number;
}

/** Checks `augment` options; undefined or shift 0 means no augmentation (null). */
export function checkAugment(a: unknown, who: string): AugmentOptions | null {
  if (a === undefined) return null;
  if (a === null || typeof a !== 'object')
    fail('INVALID_ARGUMENT', `${who}: augment must be { shift: integer >= 0 }, got ${JSON.stringify(a)}`);
  for (const k of Object.keys(a))
    if (k !== 'shift') fail('INVALID_ARGUMENT', `${who}: unknown augment option '${k}'; allowed: shift`);
  const shift = (a as { shift?: unknown }).shift;
  if (typeof shift !== 'number' || !Number.isInteger(shift) || shift < 0)
    fail('INVALID_ARGUMENT', `${who}: augment.shift must be an integer >= 0 (pixels), got ${JSON.stringify(shift)}`);
  return shift === 0 ? null : { shift };
}

/**
 * The translation (dx, dy) of example `id` in `epoch`: a pure function of (seed, id, epoch), so a run is
 * reproducible and independent of the batch order. dx moves the image right, dy down.
 */
export function shiftAt(seed: number, id: number, epoch: number, shift: number): [number, number] {
  const n = 2 * shift + 1;
  const draw = (i: number) => Math.min(n - 1, Math.floor(uniformAt(seed, DATA_STREAM.augment, id, epoch, i) * n));
  return [draw(0) - shift, draw(1) - shift];
}

/**
 * Writes `src` ([C, H, W], one example) translated by (dx, dy) into `dst`, with zeros where the shifted image
 * has no source pixel: dst[c, y, x] = src[c, y − dy, x − dx]. A gather on the host during batch assembly: the
 * batch is uploaded anyway, and a shifted copy costs one pass over 784 floats per digit.
 */
export function shiftImage(
  src: Float32Array,
  dst: Float32Array,
  C: number,
  H: number,
  W: number,
  dx: number,
  dy: number,
): void {
  dst.fill(0);
  const x0 = Math.max(0, dx),
    x1 = Math.min(W, W + dx);
  if (x1 <= x0) return;
  for (let c = 0; c < C; c++)
    for (let y = Math.max(0, dy); y < Math.min(H, H + dy); y++) {
      const to = (c * H + y) * W,
        from = (c * H + y - dy) * W;
      dst.set(src.subarray(from + x0 - dx, from + x1 - dx), to + x0);
    }
}
