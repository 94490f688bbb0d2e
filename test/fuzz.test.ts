import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SmoothgeoError } from '../src/errors.js';
import { buildGraph } from '../src/graph/spec.js';
import { loadModel } from '../src/graph/model.js';
import { encodeSafetensors, parseSafetensors } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';
import { cpuEngine } from './helpers.js';

/**
 * Property-based fuzzing (fast-check) of the two parsers of untrusted input: the safetensors reader and
 * the spec builder. Every generated mutation must give a SmoothgeoError or a valid result — never another
 * exception, a hang (the test timeout), a polluted prototype, or memory growth past a bound. Seeds are
 * fixed so a failure reproduces; fast-check prints the shrunk counterexample.
 */

const fill = (shape: number[], v = 0.5): Tensor => ({
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v),
});
const weights = {
  'fc1.weight': fill([3, 4]),
  'fc1.bias': fill([3]),
  'fc2.weight': fill([2, 3]),
  'fc2.bias': fill([2]),
};
const spec = {
  input: [4],
  layers: [{ type: 'dense', name: 'fc1', out: 3 }, { type: 'relu' }, { type: 'dense', name: 'fc2', out: 2 }],
};
const valid = encodeSafetensors(weights, { format: 'pt' });
const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));

/** Runs `f`; a SmoothgeoError is a refusal, anything else thrown fails the property. */
function refusedOr<T>(f: () => T): T | null {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof SmoothgeoError))
      throw new Error(`not a SmoothgeoError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, {
        cause: e,
      });
    expect(e.message.length).toBeLessThan(600);
    return null;
  }
}

/** A parsed file is valid: each tensor's data fits its shape and lies within the file. */
function checkParsed(bytes: Uint8Array, r: ReturnType<typeof parseSafetensors>): void {
  let total = 0;
  for (const t of r.tensors.values()) {
    expect(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)).toBe(true);
    expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    total += t.data.byteLength;
  }
  expect(total).toBeLessThanOrEqual(bytes.length);
}

/** A spec gives a SmoothgeoError or a graph whose every size is a positive exact integer. */
function checkGraph(s: unknown): void {
  const g = refusedOr(() => buildGraph(s));
  if (!g) return;
  expect(Number.isSafeInteger(g.classes) && g.classes >= 1).toBe(true);
  for (const op of g.ops) expect(op.outShape.every((d) => Number.isSafeInteger(d) && d >= 1)).toBe(true);
  for (const shape of g.params.values()) expect(shape.every((d) => Number.isSafeInteger(d) && d >= 1)).toBe(true);
}

const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort().join();

describe('fuzz: safetensors parser', () => {
  const before = prototypeKeys();
  const heapBefore = process.memoryUsage().heapUsed;

  it('byte mutations of a valid file', () => {
    const mutation = fc.record({
      flips: fc.array(fc.record({ at: fc.nat({ max: valid.length - 1 }), byte: fc.integer({ min: 0, max: 255 }) }), {
        minLength: 1,
        maxLength: 6,
      }),
      cut: fc.option(fc.nat({ max: valid.length }), { nil: undefined }),
      tail: fc.uint8Array({ maxLength: 16 }),
    });
    fc.assert(
      fc.property(mutation, ({ flips, cut, tail }) => {
        const b = Uint8Array.from(valid.subarray(0, cut ?? valid.length));
        for (const { at, byte } of flips) if (at < b.length) b[at] = byte;
        const bytes = new Uint8Array(b.length + tail.length);
        bytes.set(b);
        bytes.set(tail, b.length);
        const r = refusedOr(() => parseSafetensors(bytes));
        if (r) checkParsed(bytes, r);
      }),
      { numRuns: 4000, seed: 1301 },
    );
  });

  it('generated headers: lying lengths, offsets, shapes, dtypes, duplicate and prototype keys', () => {
    const num = fc.oneof(fc.integer({ min: -4, max: 64 }), fc.constantFrom(2 ** 53, 1e300, -0, 0.5, NaN), fc.nat());
    const entry = fc.oneof(
      fc.record({
        dtype: fc.constantFrom('F32', 'F16', 'I64', ''),
        shape: fc.array(num, { maxLength: 4 }),
        data_offsets: fc.array(num, { maxLength: 3 }),
      }),
      fc.anything({ maxDepth: 3 }),
    );
    const name = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('__proto__', 'constructor', '__metadata__', 'toString', 'fc1.weight'),
    );
    const header = fc.array(fc.tuple(name, entry), { maxLength: 6 });
    fc.assert(
      fc.property(header, fc.nat({ max: 64 }), fc.integer({ min: -8, max: 8 }), (pairs, dataBytes, lie) => {
        // Assembled by hand so duplicate keys and '__proto__' reach the parser as written.
        const json = new TextEncoder().encode(
          `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`,
        );
        const bytes = new Uint8Array(8 + json.length + dataBytes);
        new DataView(bytes.buffer).setBigUint64(0, BigInt(Math.max(0, json.length + lie)), true);
        bytes.set(json, 8);
        const r = refusedOr(() => parseSafetensors(bytes));
        if (r) checkParsed(bytes, r);
      }),
      { numRuns: 4000, seed: 1302 },
    );
  });

  it('mutated files through loadModel: a SmoothgeoError or a working model', async () => {
    const engine = await cpuEngine();
    const x = fill([1, 4]);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: headerLength + 7 }), fc.integer({ min: 0, max: 255 }), async (at, byte) => {
        const bytes = Uint8Array.from(valid);
        bytes[at] = byte;
        let model;
        try {
          model = await loadModel(engine, spec, bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(SmoothgeoError);
          return;
        }
        const logits = await model.forward(x).catch((e) => {
          expect(e).toBeInstanceOf(SmoothgeoError);
          return null;
        });
        if (logits) expect(logits.data.length).toBe(2);
      }),
      { numRuns: 1000, seed: 1303 },
    );
  });

  it('leaves Object.prototype alone and memory bounded', () => {
    expect(prototypeKeys()).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Every input above is under 1 KB; 9,000 of them must not leave hundreds of MB behind.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);
  });
});

describe('fuzz: spec builder', () => {
  const before = prototypeKeys();
  const layerTypes = fc.constantFrom(
    'dense',
    'conv2d',
    'maxpool2d',
    'avgpool2d',
    'relu',
    'softplus',
    'tanh',
    'sigmoid',
    'flatten',
    'constructor',
    'toString',
    '__proto__',
    'hasOwnProperty',
    'valueOf',
    '',
  );
  const big = fc.constantFrom(2 ** 31 - 1, 2 ** 31, 65_536, 1e300);
  const field = fc.oneof(
    fc.integer({ min: -2, max: 9 }),
    fc.array(fc.oneof(fc.integer({ min: -1, max: 6 }), big), { maxLength: 3 }),
    fc.anything({ maxDepth: 2 }),
    fc.double({ min: -2, max: 12 }),
    big,
    fc.constantFrom(5e-324, NaN, Infinity),
  );
  const layer = fc.oneof(
    fc.record(
      {
        type: layerTypes,
        name: fc.constantFrom('a', 'b', 'fc', '1x', '__proto__', 'a.b'),
        out: field,
        kernel: field,
        stride: field,
        padding: field,
        bias: field,
        beta: field,
      },
      { requiredKeys: ['type'] },
    ),
    fc.anything({ maxDepth: 2 }),
  );
  const input = fc.oneof(
    fc.array(fc.integer({ min: -1, max: 9 }), { maxLength: 4 }),
    fc.array(fc.oneof(fc.integer({ min: 1, max: 12 }), big), { minLength: 3, maxLength: 3 }),
    fc.anything({ maxDepth: 2 }),
  );

  it('generated and mutated specs give a SmoothgeoError or a consistent graph', () => {
    const specs = fc.oneof(
      fc.record({ input, layers: fc.array(layer, { maxLength: 6 }) }),
      fc.record(
        { input, layers: fc.array(layer, { maxLength: 6 }), extra: fc.anything() },
        { requiredKeys: ['input', 'layers'] },
      ),
      fc.anything({ maxDepth: 3 }),
    );
    fc.assert(
      fc.property(specs, (s) => checkGraph(s)),
      { numRuns: 2000, seed: 1304 },
    );
    expect(prototypeKeys()).toBe(before);
  });

  it('mutations of a valid CNN spec: one field, type or input replaced, layers dropped or repeated', () => {
    const cnn = () => ({
      input: [2, 9, 9],
      layers: [
        { type: 'conv2d', name: 'c1', out: 3, kernel: 3, stride: 1, padding: 1, bias: true },
        { type: 'softplus', beta: 2 },
        { type: 'maxpool2d', kernel: 2, stride: 2 },
        { type: 'avgpool2d', kernel: [2, 1] },
        { type: 'flatten' },
        { type: 'dense', name: 'fc', out: 4, bias: false },
        { type: 'tanh' },
      ] as Record<string, unknown>[],
    });
    const keys = fc.constantFrom(
      'type',
      'name',
      'out',
      'kernel',
      'stride',
      'padding',
      'bias',
      'beta',
      '__proto__',
      'constructor',
    );
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('field' as const), layer: fc.nat({ max: 6 }), key: keys, value: field }),
      fc.record({ kind: fc.constant('type' as const), layer: fc.nat({ max: 6 }), value: layerTypes }),
      fc.record({ kind: fc.constant('input' as const), value: input }),
      fc.record({ kind: fc.constant('drop' as const), layer: fc.nat({ max: 6 }) }),
      fc.record({ kind: fc.constant('repeat' as const), layer: fc.nat({ max: 6 }) }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const s = cnn();
        for (const m of ms) {
          const layer = 'layer' in m ? s.layers[m.layer % s.layers.length] : undefined;
          if (m.kind === 'field' && layer)
            Object.defineProperty(layer, m.key, {
              value: m.value,
              enumerable: true,
              configurable: true,
              writable: true,
            });
          else if (m.kind === 'type' && layer) layer.type = m.value;
          else if (m.kind === 'input') (s as Record<string, unknown>).input = m.value;
          else if (m.kind === 'drop' && s.layers.length > 1) s.layers.splice(m.layer % s.layers.length, 1);
          else if (m.kind === 'repeat')
            s.layers.splice(m.layer % s.layers.length, 0, { ...s.layers[m.layer % s.layers.length] });
        }
        checkGraph(s);
      }),
      { numRuns: 3000, seed: 1305 },
    );
    expect(prototypeKeys()).toBe(before);
  });
});
