import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from 'fast-png';
import { loadMnist } from '../data/mnist.js';
import type { Engine } from '../engine.js';
import { fail } from '../errors.js';
import { loadModel, type Model } from '../graph/model.js';
import { loadOnnx } from '../io/onnx.js';
import type { Tensor } from '../tensor.js';

/** The checkpoints that ship with the package (examples/models beside dist/). */
export const SHIPPED_MODELS = ['nat', 'ssr', 'madry'] as const;

/** examples/models of the package: beside dist/ when bundled (dist/cli.mjs), two levels up from src/cli in the repository. */
export function modelsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    const candidate = join(dir, 'examples', 'models');
    if (existsSync(join(candidate, 'lenet-relu.json'))) return candidate;
  }
  return fail('INVALID_ARGUMENT', 'the shipped models (examples/models) are missing from this installation');
}

/** A file the user named, read with a message that names the flag when it is missing. */
export function readUserFile(flag: string, path: string): Buffer {
  if (!existsSync(path)) fail('INVALID_ARGUMENT', `${flag}: no such file '${path}'`);
  return readFileSync(path);
}

export interface LoadedModel {
  model: Model;
  /** What the model is, for records: the shipped name or the spec and weights paths. */
  name: string;
  /** The MNIST split seed it was trained on (its training record's), when known. */
  splitSeed: number | null;
}

/**
 * `--model nat|ssr|madry` (a shipped LeNet) or `--model spec.json --weights file.safetensors`. A spec that
 * does not fit its weights fails in loadModel with INVALID_SPEC naming the tensor.
 */
export async function loadCliModel(engine: Engine, model: string, weights: string | undefined): Promise<LoadedModel> {
  if ((SHIPPED_MODELS as readonly string[]).includes(model)) {
    if (weights !== undefined)
      fail('INVALID_ARGUMENT', `--weights goes with --model <spec.json>, not the shipped '${model}'`);
    const dir = modelsDir();
    const spec = JSON.parse(readFileSync(join(dir, 'lenet-relu.json'), 'utf8'));
    const record = JSON.parse(readFileSync(join(dir, `lenet-${model}.json`), 'utf8')) as { seed?: number };
    const m = await loadModel(engine, spec, readFileSync(join(dir, `lenet-${model}.safetensors`)));
    return { model: m, name: model, splitSeed: record.seed ?? null };
  }
  if (model.toLowerCase().endsWith('.onnx')) {
    if (weights !== undefined)
      fail('INVALID_ARGUMENT', `--weights goes with --model <spec.json>, not an ONNX file (${model})`);
    return { model: await loadOnnx(engine, readUserFile('--model', model)), name: model, splitSeed: null };
  }
  if (weights === undefined)
    fail(
      'INVALID_ARGUMENT',
      `--model '${model}' is not one of ${SHIPPED_MODELS.join(', ')} or an .onnx file; a model spec needs --weights <file.safetensors>`,
    );
  let spec: unknown;
  try {
    spec = JSON.parse(readUserFile('--model', model).toString('utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) fail('INVALID_SPEC', `--model ${model} is not JSON: ${e.message}`);
    throw e;
  }
  const m = await loadModel(engine, spec, readUserFile('--weights', weights));
  return { model: m, name: `${model} + ${weights}`, splitSeed: null };
}

export interface Inputs {
  x: Tensor;
  /** One name per example (file stem or mnist-<index>), for output file names. */
  names: string[];
  /** The true labels when known (MNIST digits). */
  labels: (number | null)[];
}

/**
 * The examples of a command: PNG files (converted to grey in [0, 1]) or indices into the MNIST test split
 * (of `splitSeed`). Each must have the model's input shape; a PNG of another size is refused by name.
 */
export async function loadInputs(
  model: Model,
  o: { input?: string[]; mnist?: number[]; splitSeed: number },
): Promise<Inputs> {
  if ((o.input === undefined) === (o.mnist === undefined))
    fail(
      'INVALID_ARGUMENT',
      'give the examples either as --input <file.png...> or as --mnist <test indices>, one of the two',
    );
  const [C, H, W] = model.inputShape;
  if (model.inputShape.length !== 3)
    fail('INVALID_ARGUMENT', `inputs are images, but the model's input shape is [${model.inputShape.join(', ')}]`);
  const d = C * H * W;
  if (o.mnist !== undefined) {
    if (C !== 1 || H !== 28 || W !== 28)
      fail(
        'INVALID_ARGUMENT',
        `--mnist gives [1, 28, 28] digits, but the model expects [${model.inputShape.join(', ')}]`,
      );
    const { test } = await loadMnist({ seed: o.splitSeed });
    const data = new Float32Array(o.mnist.length * d);
    o.mnist.forEach((i, b) => {
      if (i >= test.labels.length)
        fail('INVALID_ARGUMENT', `--mnist: index ${i} is past the test split's ${test.labels.length} digits`);
      data.set(test.x.data.subarray(i * d, (i + 1) * d), b * d);
    });
    return {
      x: { shape: [o.mnist.length, C, H, W], data },
      names: o.mnist.map((i) => `mnist-${i}`),
      labels: o.mnist.map((i) => test.labels[i]),
    };
  }
  const files = o.input!;
  const data = new Float32Array(files.length * d);
  files.forEach((f, b) => {
    let png: ReturnType<typeof decode>;
    try {
      png = decode(readUserFile('--input', f));
    } catch (e) {
      if ((e as { code?: string }).code) throw e;
      fail('INVALID_ARGUMENT', `--input ${f} is not a PNG file: ${(e as Error).message}`);
    }
    if (png.width !== W || png.height !== H)
      fail('INVALID_ARGUMENT', `--input ${f} is ${png.width}×${png.height} pixels; the model expects ${W}×${H}`);
    data.set(pixels(png, C), b * d);
  });
  return {
    x: { shape: [files.length, C, H, W], data },
    names: files.map((f) => basename(f).replace(/\.png$/i, '')),
    labels: files.map(() => null),
  };
}

/** PNG pixels → [C, H, W] in [0, 1]: grey for C = 1 (mean of R, G, B), RGB planes for C = 3; alpha ignored. */
function pixels(png: ReturnType<typeof decode>, C: number): Float32Array {
  const n = png.width * png.height,
    ch = png.channels,
    maxv = (1 << (png.depth ?? 8)) - 1;
  if (png.palette) fail('INVALID_ARGUMENT', 'indexed-colour PNGs are not supported; save the image as grey or RGB');
  if (C !== 1 && C !== 3) fail('INVALID_ARGUMENT', `images have 1 or 3 channels; the model expects ${C}`);
  const out = new Float32Array(C * n);
  const colour = ch >= 3;
  for (let p = 0; p < n; p++) {
    const v = (k: number) => png.data[p * ch + (colour ? k : 0)] / maxv;
    if (C === 1) out[p] = colour ? (v(0) + v(1) + v(2)) / 3 : v(0);
    else for (let k = 0; k < 3; k++) out[k * n + p] = v(k);
  }
  return out;
}
