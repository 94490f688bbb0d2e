import { fail, type ErrorCode } from '../errors.js';
import { shapeStr, sizeOf, type Tensor } from '../tensor.js';
import { int, options as validateOptions, show } from '../validate.js';

// Reads and writes the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian u64 header length N, N bytes of UTF-8 JSON describing each tensor (dtype, shape, byte
// offsets into the data section that starts at 8 + N), then the data. Only F32 is supported.

export interface SafetensorsOptions {
  /** Largest header accepted, in bytes (default 16 MiB); a larger one is rejected before anything is read. */
  maxHeaderBytes?: number;
  /** Most header entries (tensors plus metadata) accepted (default 65,536); counted before the JSON is parsed. */
  maxEntries?: number;
}

const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 65_536;
const METADATA_KEY = '__metadata__';

export function parseSafetensors(
  bytes: Uint8Array | ArrayBuffer,
  options: SafetensorsOptions = {},
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) {
    fail('INVALID_ARGUMENT', `safetensors bytes must be a Uint8Array or an ArrayBuffer, got ${show(bytes)}`);
  }
  options = validateOptions('parseSafetensors', options, [
    'maxHeaderBytes',
    'maxEntries',
    'prefix',
  ]) as SafetensorsOptions;
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeader) || maxHeader < 0) {
    fail('INVALID_ARGUMENT', `maxHeaderBytes must be a non-negative integer, found ${show(maxHeader)}`);
  }
  const maxEntries = int('parseSafetensors: maxEntries', options.maxEntries, DEFAULT_MAX_ENTRIES, 1);
  if (buf.length < 8) {
    fail('INVALID_SAFETENSORS', `safetensors file is ${buf.length} bytes, expected at least 8 (the header length)`);
  }

  // Compare as BigInt before converting or allocating: a hostile u64 may exceed 2^53 or the memory we have.
  const headerLen64 = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (headerLen64 > BigInt(maxHeader)) {
    fail(
      'LIMIT_EXCEEDED',
      `safetensors header length ${headerLen64} bytes exceeds the limit of ${maxHeader} bytes (maxHeaderBytes)`,
    );
  }
  const headerLen = Number(headerLen64);
  if (8 + headerLen > buf.length) {
    fail(
      'INVALID_SAFETENSORS',
      `safetensors header length ${headerLen} runs past the end of the file (${buf.length} bytes, so at most ${buf.length - 8} header bytes)`,
    );
  }

  const header = parseHeader(buf.subarray(8, 8 + headerLen), maxEntries);
  const data = buf.subarray(8 + headerLen);
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = checkMetadata(entry, 'INVALID_SAFETENSORS');
    else entries.push({ name, ...checkEntry(name, entry, data.length) });
  }
  // Checked before copying: contiguous ranges bound what we allocate by the file's own size.
  checkContiguous(entries, data.length);

  const tensors = new Map<string, Tensor>();
  for (const { name, shape, begin, end } of entries) {
    // Copy bytes (offsets need not be 4-aligned) so the result never aliases the input. Float32Array
    // reads in host byte order, which is little-endian on every platform with WebGPU.
    const values = new Float32Array((end - begin) / 4);
    new Uint8Array(values.buffer).set(data.subarray(begin, end));
    tensors.set(name, { shape, data: values });
  }
  return { tensors, metadata };
}

export function encodeSafetensors(
  tensors: Record<string, Tensor> | Map<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) {
    fail(
      'INVALID_ARGUMENT',
      `encodeSafetensors: tensors must be a record or Map from name to tensor, got ${show(tensors)}`,
    );
  }
  const entries = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))];
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  // The JSON is assembled by hand: a JS object would reorder integer-like names ahead of the others.
  const fields: string[] = [];
  if (metadata !== undefined)
    fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(checkMetadata(metadata, 'INVALID_ARGUMENT'))}`);
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === METADATA_KEY)
      fail('INVALID_ARGUMENT', `a tensor cannot be named "${METADATA_KEY}"; that key holds the metadata`);
    checkTensorToWrite(name, t);
    const info = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  // Padding to 8 bytes keeps the data section 8-aligned, so readers can view it without copying.
  const headerLen = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

function parseHeader(bytes: Uint8Array, maxEntries: number): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    fail('INVALID_SAFETENSORS', 'safetensors header is not valid UTF-8');
  }
  // The reference implementation insists on '{' first (no leading whitespace, no other JSON value).
  if (!text.startsWith('{')) {
    fail(
      'INVALID_SAFETENSORS',
      `safetensors header must start with '{' (a JSON object), found ${text.length ? show(text.slice(0, 20)) : 'an empty header'}`,
    );
  }
  checkTopLevelKeys(text, maxEntries);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail('INVALID_SAFETENSORS', `safetensors header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) {
    fail('INVALID_SAFETENSORS', `safetensors header must be a JSON object, found ${kind(header)}`);
  }
  return header;
}

function checkEntry(name: string, entry: unknown, dataLen: number): { shape: number[]; begin: number; end: number } {
  const where = `safetensors tensor ${show(name)}`;
  if (!isPlainObject(entry)) {
    fail('INVALID_SAFETENSORS', `${where}: expected an object { dtype, shape, data_offsets }, found ${kind(entry)}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') {
    fail('INVALID_SAFETENSORS', `${where}: dtype must be a string, found ${found(dtype)}`);
  }
  if (dtype !== 'F32') {
    fail('INVALID_SAFETENSORS', `${where} has dtype ${show(dtype)}; only F32 is supported`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail('INVALID_SAFETENSORS', `${where}: shape must be an array of non-negative integers, found ${found(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail(
      'INVALID_SAFETENSORS',
      `${where}: data_offsets must be two non-negative integers [begin, end] with begin <= end, found ${found(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataLen) {
    fail(
      'INVALID_SAFETENSORS',
      `${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataLen} bytes)`,
    );
  }
  const expected = sizeOf(shape) * 4;
  if (end - begin !== expected) {
    fail(
      'INVALID_SAFETENSORS',
      `${where}: shape ${shapeStr(shape)} needs ${expected} bytes of F32 but data_offsets [${begin}, ${end}] span ${end - begin} bytes`,
    );
  }
  return { shape: [...shape], begin, end };
}

/**
 * The data section must be tiled exactly, as the reference implementation requires: sorted by begin, each
 * tensor starts where the previous one ended, the first at 0 and the last at the end of the file. So no two
 * tensors alias, no bytes hide between them, and nothing trails the last one.
 */
function checkContiguous(ranges: { name: string; begin: number; end: number }[], dataLen: number): void {
  const sorted = [...ranges].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0,
    prev: (typeof sorted)[number] | undefined;
  for (const r of sorted) {
    if (r.begin < at) {
      fail(
        'INVALID_SAFETENSORS',
        `safetensors tensors ${show(prev!.name)} [${prev!.begin}, ${prev!.end}] and ${show(r.name)} [${r.begin}, ${r.end}] have overlapping byte ranges`,
      );
    }
    if (r.begin > at) {
      fail(
        'INVALID_SAFETENSORS',
        `safetensors data has a hole: bytes [${at}, ${r.begin}) before tensor ${show(r.name)} belong to no tensor; tensors must tile the data section`,
      );
    }
    at = r.end;
    prev = r;
  }
  if (at !== dataLen) {
    fail(
      'INVALID_SAFETENSORS',
      `safetensors data section has ${dataLen - at} trailing bytes after the last tensor (tensors cover [0, ${at}) of ${dataLen} bytes)`,
    );
  }
}

/**
 * Counts and de-duplicates the header's top-level keys before JSON.parse builds anything: JSON.parse keeps
 * the last of two equal keys silently, and a header of 200,000 empty entries would cost hundreds of MB
 * before any check ran. One linear pass over the text; strings are skipped with their escapes.
 */
function checkTopLevelKeys(text: string, maxEntries: number): void {
  const seen = new Set<string>();
  let depth = 0,
    expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // '"': a string; find its end
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (depth === 1 && expectKey) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, j + 1)) as string;
        } catch {
          return;
        } // JSON.parse reports it
        if (seen.has(key))
          fail(
            'INVALID_SAFETENSORS',
            `safetensors header has the key ${show(key)} twice; every tensor name must be unique`,
          );
        seen.add(key);
        if (seen.size > maxEntries) {
          fail(
            'LIMIT_EXCEEDED',
            `safetensors header has more than ${maxEntries} entries (maxEntries); refused before parsing it`,
          );
        }
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      // '{' '['
      depth++;
      expectKey = depth === 1;
    } else if (c === 0x7d || c === 0x5d) {
      // '}' ']'
      depth--;
    } else if (c === 0x2c && depth === 1) {
      // ','
      expectKey = true;
    }
  }
}

function checkMetadata(value: unknown, code: ErrorCode): Record<string, string> {
  if (!isPlainObject(value)) {
    fail(code, `safetensors ${METADATA_KEY} must be an object of strings, found ${kind(value)}`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      fail(code, `safetensors ${METADATA_KEY}[${show(key)}] must be a string, found ${show(v)}`);
    }
  }
  return { ...(value as Record<string, string>) };
}

function checkTensorToWrite(name: string, t: Tensor): void {
  if (!Array.isArray(t?.shape) || !t.shape.every(isCount)) {
    fail(
      'INVALID_ARGUMENT',
      `tensor ${show(name)}: shape must be an array of non-negative integers, found ${show(t?.shape)}`,
    );
  }
  if (!(t.data instanceof Float32Array)) {
    fail('INVALID_ARGUMENT', `tensor ${show(name)}: data must be a Float32Array, found ${kind(t.data)}`);
  }
  if (t.data.length !== sizeOf(t.shape)) {
    fail(
      'INVALID_ARGUMENT',
      `tensor ${show(name)} has ${t.data.length} values but its shape ${shapeStr(t.shape)} needs ${sizeOf(t.shape)}`,
    );
  }
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  return Array.isArray(v) ? 'array' : typeof v;
}

/** The value found in a header field, for messages ('nothing' when the field is absent). */
function found(v: unknown): string {
  return v === undefined ? 'nothing' : show(v);
}
