import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { SmoothgeoError, type ErrorCode } from '../src/errors.js';
import { encodeSafetensors, parseSafetensors } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';

/** A file with the given header (a JSON value, or raw text to write as is) and `dataBytes` data bytes. */
function file(header: unknown, dataBytes = 0): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  return withLength(BigInt(json.length), json, new Uint8Array(dataBytes));
}

function withLength(n: bigint, ...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(8 + parts.reduce((s, p) => s + p.length, 0));
  new DataView(out.buffer).setBigUint64(0, n, true);
  let pos = 8;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function expectFailure(fn: () => unknown, code: ErrorCode, message: RegExp): void {
  expect(fn).toThrow(message);
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SmoothgeoError);
    expect((e as SmoothgeoError).code).toBe(code);
  }
}

const f32 = (shape: number[], offsets: [number, number]) => ({ dtype: 'F32', shape, data_offsets: offsets });

describe('encodeSafetensors / parseSafetensors round trip', () => {
  const tensors: Record<string, Tensor> = {
    'b.weight': { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 4, 5, 6e-8]) },
    'a.bias': { shape: [3], data: new Float32Array([0.1, 0.2, 0.3]) },
    scalar: { shape: [], data: new Float32Array([42]) },
    empty: { shape: [2, 0, 3], data: new Float32Array(0) },
    '10': { shape: [1], data: new Float32Array([10]) },
    '2': { shape: [1], data: new Float32Array([2]) },
  };

  it('reproduces every tensor, shape and the metadata', () => {
    const bytes = encodeSafetensors(tensors, { format: 'pt', note: 'héllo' });
    const { tensors: back, metadata } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect([...back.keys()].sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back.get(name)!.shape).toEqual(t.shape);
      expect(back.get(name)!.data).toEqual(t.data);
    }
    expect(back.get('scalar')!.data).toEqual(new Float32Array([42]));
    expect(back.get('empty')!.data.length).toBe(0);
  });

  it('writes sorted keys, contiguous data and a space-padded header of a multiple of 8 bytes', () => {
    const bytes = encodeSafetensors(new Map(Object.entries(tensors)));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text).toMatch(/^\{.*\} {0,7}$/);
    const header = JSON.parse(text) as Record<string, { data_offsets: [number, number] }>;
    const names = [...text.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
    expect(names).toEqual(['10', '2', 'a.bias', 'b.weight', 'empty', 'scalar']);
    let end = 0;
    for (const name of names) {
      expect(header[name].data_offsets[0]).toBe(end);
      end = header[name].data_offsets[1];
    }
    expect(bytes.length).toBe(8 + n + end);
    expect('__metadata__' in header).toBe(false);
  });

  it('returns fresh arrays that do not alias the input, even at unaligned offsets', () => {
    // A 13-byte header puts the data section at offset 21, which is not 4-aligned.
    const header = `{"t":${JSON.stringify(f32([2], [0, 8]))}}`.padEnd(13, ' ');
    const json = new TextEncoder().encode(header);
    const bytes = withLength(BigInt(json.length), json, new Uint8Array(new Float32Array([1.5, -2]).buffer));
    expect((8 + json.length) % 4).not.toBe(0);
    const t = parseSafetensors(bytes.buffer as ArrayBuffer).tensors.get('t')!;
    expect(t.data).toEqual(new Float32Array([1.5, -2]));
    bytes.fill(0);
    expect(t.data).toEqual(new Float32Array([1.5, -2]));
  });

  it('rejects a tensor whose data does not fit its shape', () => {
    expectFailure(
      () => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }),
      'INVALID_ARGUMENT',
      /"w" has 3 values but its shape \[2, 2\] needs 4/,
    );
  });
});

describe('parseSafetensors on the LeNet oracle fixture', () => {
  const { tensors, metadata } = parseSafetensors(
    readFileSync(new URL('./fixtures/oracle/lenet.safetensors', import.meta.url)),
  );

  it('reads every tensor with its PyTorch name and shape', () => {
    expect(tensors.size).toBe(43);
    expect(metadata).toEqual({});
    expect(tensors.get('param.conv1.weight')!.shape).toEqual([6, 1, 5, 5]);
    expect(tensors.get('param.conv2.weight')!.shape).toEqual([12, 6, 5, 5]);
    expect(tensors.get('param.fc.weight')!.shape).toEqual([10, 192]);
    expect(tensors.get('x')!.shape).toEqual([2, 1, 28, 28]);
    expect(tensors.get('logits')!.shape).toEqual([2, 10]);
  });

  it('reads the values at the recorded offsets', () => {
    const w = tensors.get('param.conv1.weight')!.data;
    expect(w.length).toBe(150);
    expect(w[0]).toBeCloseTo(0.11236224, 7);
    expect(w[1]).toBeCloseTo(-0.06885231, 7);
    expect(w[149]).toBeCloseTo(0.34883076, 7);
    expect(tensors.get('x')!.data[1]).toBeCloseTo(0.39367664, 7);
  });
});

describe('parseSafetensors rejects malformed files', () => {
  it('a file shorter than 8 bytes', () => {
    expectFailure(() => parseSafetensors(new Uint8Array(5)), 'INVALID_SAFETENSORS', /5 bytes, expected at least 8/);
  });

  it('a header length above maxHeaderBytes, before reading the header', () => {
    // The file holds only the length field: rejecting it must not depend on (or allocate) the header.
    expectFailure(
      () => parseSafetensors(withLength(10n ** 12n)),
      'LIMIT_EXCEEDED',
      /1000000000000 bytes exceeds the limit of 16777216 bytes/,
    );
    expectFailure(
      () => parseSafetensors(file({}), { maxHeaderBytes: 1 }),
      'LIMIT_EXCEEDED',
      /header length 2 bytes exceeds the limit of 1 bytes/,
    );
  });

  it('a header length above 2^53', () => {
    const huge = parseSafetensors.bind(null, withLength(2n ** 64n - 1n), { maxHeaderBytes: Number.MAX_SAFE_INTEGER });
    expectFailure(huge, 'LIMIT_EXCEEDED', /18446744073709551615 bytes exceeds the limit of 9007199254740991/);
  });

  it('a header length past the end of the file', () => {
    expectFailure(
      () => parseSafetensors(withLength(100n, new Uint8Array(10))),
      'INVALID_SAFETENSORS',
      /header length 100 runs past the end of the file \(18 bytes/,
    );
  });

  it('a header that is not UTF-8', () => {
    expectFailure(
      () => parseSafetensors(withLength(2n, new Uint8Array([0xff, 0xfe]))),
      'INVALID_SAFETENSORS',
      /not valid UTF-8/,
    );
  });

  it('a header that is not JSON', () => {
    expectFailure(() => parseSafetensors(file('{"a": ')), 'INVALID_SAFETENSORS', /not valid JSON/);
  });

  it.each([
    ['[1, 2]', /header must start with '\{' \(a JSON object\), found "\[1, 2\]"/],
    ['7', /header must start with '\{' \(a JSON object\), found "7"/],
    [' {}', /header must start with '\{' \(a JSON object\), found " \{\}"/],
  ])('a header that is %s instead of an object starting with {', (header, message) => {
    expectFailure(() => parseSafetensors(file(header)), 'INVALID_SAFETENSORS', message);
  });

  it('an entry that is not an object', () => {
    expectFailure(
      () => parseSafetensors(file({ w: [1, 2] })),
      'INVALID_SAFETENSORS',
      /tensor "w": expected an object \{ dtype, shape, data_offsets \}, found array/,
    );
  });

  it.each([
    ['missing', { shape: [1], data_offsets: [0, 4] }, /"w": dtype must be a string, found nothing/],
    ['not a string', { dtype: 32, shape: [1], data_offsets: [0, 4] }, /"w": dtype must be a string, found 32/],
  ])('a dtype that is %s', (_, entry, message) => {
    expectFailure(() => parseSafetensors(file({ w: entry }, 4)), 'INVALID_SAFETENSORS', message);
  });

  it('a dtype other than F32', () => {
    expectFailure(
      () => parseSafetensors(file({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, 4)),
      'INVALID_SAFETENSORS',
      /"w" has dtype "F16"; only F32 is supported/,
    );
  });

  it.each([
    ['missing', undefined, /found nothing/],
    ['not an array', 3, /found 3/],
    ['negative', [2, -1], /found \[2,-1\]/],
    ['fractional', [1.5], /found \[1.5\]/],
    ['of strings', ['2'], /found \["2"\]/],
  ])('a shape that is %s', (_, shape, message) => {
    expectFailure(
      () => parseSafetensors(file({ w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, 4)),
      'INVALID_SAFETENSORS',
      new RegExp(`"w": shape must be an array of non-negative integers, ${message.source}`),
    );
  });

  it.each([
    ['missing', undefined, /found nothing/],
    ['of one number', [4], /found \[4\]/],
    ['negative', [-4, 0], /found \[-4,0\]/],
    ['reversed', [4, 0], /found \[4,0\]/],
    ['not integers', [0, '4'], /found \[0,"4"\]/],
  ])('data_offsets that are %s', (_, offsets, message) => {
    expectFailure(
      () => parseSafetensors(file({ w: { dtype: 'F32', shape: [1], data_offsets: offsets } }, 4)),
      'INVALID_SAFETENSORS',
      new RegExp(
        `"w": data_offsets must be two non-negative integers \\[begin, end\\] with begin <= end, ${message.source}`,
      ),
    );
  });

  it('data_offsets past the end of the data section', () => {
    expectFailure(
      () => parseSafetensors(file({ w: f32([2], [4, 12]) }, 8)),
      'INVALID_SAFETENSORS',
      /"w": data_offsets \[4, 12\] run past the end of the data section \(8 bytes\)/,
    );
  });

  it('two tensors with overlapping byte ranges', () => {
    const header = { a: f32([3], [0, 12]), b: f32([1], [16, 20]), c: f32([2], [8, 16]) };
    expectFailure(
      () => parseSafetensors(file(header, 20)),
      'INVALID_SAFETENSORS',
      /"a" \[0, 12\] and "c" \[8, 16\] have overlapping byte ranges/,
    );
  });

  it('a byte length that does not match the shape', () => {
    expectFailure(
      () => parseSafetensors(file({ w: f32([2, 3], [0, 20]) }, 20)),
      'INVALID_SAFETENSORS',
      /"w": shape \[2, 3\] needs 24 bytes of F32 but data_offsets \[0, 20\] span 20 bytes/,
    );
  });

  it.each([
    ['an array', ['pt'], /__metadata__ must be an object of strings, found array/],
    ['a string', 'pt', /__metadata__ must be an object of strings, found string/],
    ['an object with a number', { format: 'pt', epoch: 3 }, /__metadata__\["epoch"\] must be a string, found 3/],
  ])('__metadata__ that is %s', (_, metadata, message) => {
    expectFailure(() => parseSafetensors(file({ __metadata__: metadata })), 'INVALID_SAFETENSORS', message);
  });
});
