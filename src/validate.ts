import { fail } from './errors.js';

/**
 * The one validation layer every public function uses. Each check names the argument or option (with the
 * function it belongs to) and the accepted values, and echoes the caller's value through `show`, which cuts
 * it to a readable length without ever recursing into it (a hostile value may be a million elements long
 * or nested a million levels deep). `undefined` means "use the default"; `null` is never a default: it is
 * an error, so a `null` option cannot silently mean something else.
 */

/** Most characters of a caller's value echoed in a message. */
export const SHOWN_CHARS = 80;
/** Most elements of an array (or keys of an object) listed, each shown flat. */
const SHOWN_ITEMS = 8;

/** A short, flat rendering of any value for an error message: never longer than about SHOWN_CHARS, never recursive. */
export function show(v: unknown): string {
  return cut(render(v, true));
}

function cut(s: string): string {
  return s.length > SHOWN_CHARS ? `${s.slice(0, SHOWN_CHARS - 3)}...` : s;
}

function render(v: unknown, top: boolean): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'string':
      return JSON.stringify(v.length > SHOWN_CHARS ? v.slice(0, SHOWN_CHARS) : v);
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint':
      return `${v}n`;
    case 'boolean':
      return String(v);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  if (ArrayBuffer.isView(v)) {
    const name = (v as object).constructor?.name ?? 'typed array';
    return `${name}(${(v as { length?: number }).length ?? (v as ArrayBufferView).byteLength})`;
  }
  if (!top) return Array.isArray(v) ? `[…${(v as unknown[]).length}]` : '{…}';
  if (Array.isArray(v)) {
    const n = v.length;
    const items: string[] = [];
    for (let i = 0; i < Math.min(n, SHOWN_ITEMS); i++) items.push(render(v[i], false));
    const more = n > SHOWN_ITEMS ? `, … (${n} elements)` : '';
    return `[${items.join(',')}${more}]`;
  }
  let keys: string[];
  try {
    keys = Object.keys(v as object);
  } catch {
    return 'an object';
  }
  const shown = keys.slice(0, SHOWN_ITEMS).map((k) => JSON.stringify(k.slice(0, 20)));
  return `an object {${shown.join(', ')}${keys.length > SHOWN_ITEMS ? `, … (${keys.length} keys)` : ''}}`;
}

/** A required argument that is not null or undefined. */
export function required<T>(name: string, v: T): NonNullable<T> {
  if (v === null || v === undefined) fail('INVALID_ARGUMENT', `${name} is required, got ${show(v)}`);
  return v as NonNullable<T>;
}

/**
 * An options object: `undefined` gives {} (every default), or an error when `mandatory`; anything but a
 * plain object is an error; so is a key the function does not know (a typo such as `sigmaa` must not be
 * silently ignored).
 */
export function options(
  fn: string,
  o: unknown,
  allowed: readonly string[],
  mandatory = false,
): Record<string, unknown> {
  if (o === undefined && !mandatory) return {};
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    fail(
      'INVALID_ARGUMENT',
      `${fn}: options must be an object, got ${show(o)}; allowed options: ${allowed.join(', ')}`,
    );
  }
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k))
      fail(
        'INVALID_ARGUMENT',
        `${fn}: unknown option '${k.length > 40 ? `${k.slice(0, 37)}...` : k}'; allowed: ${allowed.join(', ')}`,
      );
  }
  return o as Record<string, unknown>;
}

function nullOption(name: string): never {
  return fail('INVALID_ARGUMENT', `${name} is null; omit it for the default or give a value`);
}

/** An integer in [min, max] (max may be Infinity); `def` when undefined (required when def is undefined). */
export function int(name: string, v: unknown, def: number | undefined, min: number, max = Infinity): number {
  const accepted = max === Infinity ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
  if (v === null) nullOption(name);
  if (v === undefined) {
    if (def === undefined) fail('INVALID_ARGUMENT', `${name} is required: ${accepted}`);
    return def;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail('INVALID_ARGUMENT', `${name} must be ${accepted}, got ${show(v)}`);
  }
  return v;
}

/** A finite number > 0; `def` when undefined (required when def is undefined). */
export function positive(name: string, v: unknown, def?: number): number {
  if (v === null) nullOption(name);
  if (v === undefined) {
    if (def === undefined) fail('INVALID_ARGUMENT', `${name} is required: a finite number > 0`);
    return def;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    fail('INVALID_ARGUMENT', `${name} must be a finite number > 0, got ${show(v)}`);
  return v;
}

/** A finite number (any sign), or undefined when absent. */
export function finite(name: string, v: unknown): number | undefined {
  if (v === null) nullOption(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    fail('INVALID_ARGUMENT', `${name} must be a finite number, got ${show(v)}`);
  return v;
}

/** One of `choices`; `def` when undefined. */
export function choice<T extends string | number>(name: string, v: unknown, choices: readonly T[], def: T): T {
  if (v === null) nullOption(name);
  if (v === undefined) return def;
  if (!choices.includes(v as T)) {
    fail(
      'INVALID_ARGUMENT',
      `${name} must be ${choices.map((c) => (typeof c === 'string' ? `'${c}'` : String(c))).join(' or ')}, got ${show(v)}`,
    );
  }
  return v as T;
}

/** true or false; `def` when undefined. */
export function bool(name: string, v: unknown, def: boolean): boolean {
  if (v === null) nullOption(name);
  if (v === undefined) return def;
  if (typeof v !== 'boolean') fail('INVALID_ARGUMENT', `${name} must be true or false, got ${show(v)}`);
  return v;
}

/** A value range [lo, hi] of finite numbers with lo < hi; `def` when undefined. */
export function range(name: string, v: unknown, def: [number, number]): [number, number] {
  if (v === null) nullOption(name);
  if (v === undefined) return def;
  if (
    !Array.isArray(v) ||
    v.length !== 2 ||
    !v.every((e) => typeof e === 'number' && Number.isFinite(e)) ||
    !(v[0] < v[1])
  ) {
    fail('INVALID_ARGUMENT', `${name} must be [lo, hi] with finite lo < hi, got ${show(v)}`);
  }
  return [v[0], v[1]];
}

/** An AbortSignal (or anything with its shape), or undefined. */
export function signal(name: string, v: unknown): AbortSignal | undefined {
  if (v === null) nullOption(name);
  if (v === undefined) return undefined;
  const s = v as AbortSignal;
  if (typeof v !== 'object' || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function') {
    fail('INVALID_ARGUMENT', `${name} must be an AbortSignal (e.g. new AbortController().signal), got ${show(v)}`);
  }
  return s;
}

/** Stops a long-running call when its signal has fired: an ABORTED error naming the call and the reason. */
export function throwIfAborted(s: AbortSignal | undefined, what: string): void {
  if (s?.aborted) {
    const reason =
      s.reason instanceof Error ? s.reason.message : s.reason === undefined ? 'no reason given' : show(s.reason);
    fail('ABORTED', `${what} was aborted by its signal (${reason})`);
  }
}

/**
 * A point where a long-running call may stop: with a signal, it first lets the event loop run (a timer
 * turn; microtasks alone would never let an abort() from a timer or an event in), then throws ABORTED if
 * the signal has fired. Without a signal it costs nothing.
 */
export async function checkpoint(s: AbortSignal | undefined, what: string): Promise<void> {
  if (!s) return;
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  throwIfAborted(s, what);
}
