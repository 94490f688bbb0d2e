import { fail } from '../errors.js';
import { show } from '../validate.js';

/**
 * The seed of a random algorithm: the caller's (an integer in [0, 2^53), validated) or a fresh one drawn from
 * the platform's CSPRNG when omitted. Every random result reports the seed it used, so any run can be repeated.
 */
export function resolveSeed(seed: unknown): number {
  if (seed === undefined) {
    const words = new Uint32Array(2);
    globalThis.crypto.getRandomValues(words);
    return words[0] + (words[1] & 0x1fffff) * 2 ** 32;
  }
  if (!Number.isSafeInteger(seed) || (seed as number) < 0)
    fail('INVALID_ARGUMENT', `seed must be an integer in [0, 2^53), got ${show(seed)}`);
  return seed as number;
}
