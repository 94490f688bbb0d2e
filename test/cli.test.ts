// The `smoothgeo` bin as a user runs it: the built dist/cli.mjs in a child process (npm test builds first),
// on the cpu backend and one or two MNIST digits so that each run takes about a second.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { attributionMap, saliency } from '../src/attribution/methods.js';
import { hessianEigen } from '../src/curvature/eigen.js';
import { loadMnist } from '../src/data/mnist.js';
import { loadModel } from '../src/graph/model.js';
import { loadOnnx } from '../src/io/onnx.js';
import { sequential } from '../src/io/png.js';
import { cpuEngine } from './helpers.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist', 'cli.mjs');
const MODELS = join(ROOT, 'examples', 'models');

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: tmp() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The bin under a pseudo-terminal (util-linux `script`): what a user at a terminal sees, stdout and stderr merged. */
function runTty(...args: string[]): { status: number | null; out: string } {
  const line = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const r = spawnSync('script', ['-qec', line, '/dev/null'], {
    encoding: 'utf8',
    cwd: tmp(),
    env: { ...process.env, SMOOTHGEO_PROGRESS_DELAY_MS: '0' },
  });
  return { status: r.status, out: r.stdout };
}

/** A failure as the issue asks: non-zero status, one line on stderr matching `pattern`, no stack trace. */
function oneLine(r: ReturnType<typeof run>, pattern: RegExp) {
  expect(r.status).not.toBe(0);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'smoothgeo-cli-'));
}

async function natModel() {
  const engine = await cpuEngine();
  const spec = JSON.parse(readFileSync(join(MODELS, 'lenet-relu.json'), 'utf8'));
  return loadModel(engine, spec, readFileSync(join(MODELS, 'lenet-nat.safetensors')));
}

/** Test digit `i` of the split the shipped NAT model was trained on (seed 1, its training record's). */
async function digit(i: number) {
  const { test } = await loadMnist({ seed: 1 });
  return { shape: [1, 1, 28, 28], data: test.x.data.slice(i * 784, (i + 1) * 784) };
}

describe('smoothgeo explain', () => {
  it('writes the saliency map of the library as JSON and as an overlay whose colours follow the map', async () => {
    const out = tmp();
    const r = run(
      'explain',
      '--model',
      'nat',
      '--mnist',
      '3',
      '--method',
      'saliency',
      '--backend',
      'cpu',
      '--out',
      out,
      '--json',
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout);
    const x = await digit(3);
    const model = await natModel();
    const want = attributionMap((await saliency(model, x, { target: [rec.examples[0].predicted] })).attributions);
    const got = rec.methods.saliency.maps[0] as number[];
    // Same backend, same float32 arithmetic: the CLI adds nothing but the file formats.
    for (let i = 0; i < 784; i++) expect(got[i]).toBeCloseTo(want.data[i], 5);
    expect(JSON.parse(readFileSync(join(out, 'explain.json'), 'utf8')).methods.saliency.maps[0]).toEqual(got);

    const png = decode(readFileSync(rec.methods.saliency.files[0]));
    expect(png.height).toBe(28 * 8);
    expect(png.width).toBeGreaterThan(28 * 8); // the legend on the right
    const px = (x: number, y: number) =>
      Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3));
    // The strongest cell is drawn in the top colour of the bar; a cell without attribution shows the grey digit.
    const top = got.indexOf(Math.max(...got));
    expect(px((top % 28) * 8 + 4, Math.floor(top / 28) * 8 + 4)).toEqual(sequential(1));
    const zero = got.findIndex((v) => v === 0);
    expect(zero).toBeGreaterThanOrEqual(0);
    const grey = Math.round(255 * x.data[zero]);
    expect(px((zero % 28) * 8 + 4, Math.floor(zero / 28) * 8 + 4)).toEqual([grey, grey, grey]);
  });

  it('reads PNG inputs and gives the same prediction as the digit itself', async () => {
    const dir = tmp();
    const x = await digit(5);
    const grey = Uint8Array.from(x.data, (v) => Math.round(v * 255));
    writeFileSync(join(dir, 'five.png'), encode({ width: 28, height: 28, data: grey, channels: 1, depth: 8 }));
    const r = run(
      'explain',
      '--model',
      'nat',
      '--input',
      join(dir, 'five.png'),
      '--backend',
      'cpu',
      '--out',
      dir,
      '--json',
    );
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout);
    const logits = await (await natModel()).forward(x);
    const z = Array.from(logits.data);
    expect(rec.examples[0].name).toBe('five');
    expect(rec.examples[0].predicted).toBe(z.indexOf(Math.max(...z)));
  });

  it('explains an ONNX model given as --model file.onnx, with the prediction loadOnnx gives', async () => {
    const dir = tmp();
    const onnx = join(ROOT, 'test', 'fixtures', 'onnx', 'mixed_onnx.onnx');
    const grey = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) % 256);
    writeFileSync(join(dir, 'pattern.png'), encode({ width: 8, height: 8, data: grey, channels: 1, depth: 8 }));
    const r = run(
      'explain',
      '--model',
      onnx,
      '--input',
      join(dir, 'pattern.png'),
      '--backend',
      'cpu',
      '--out',
      dir,
      '--json',
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout);
    const model = await loadOnnx(await cpuEngine(), readFileSync(onnx));
    const logits = await model.forward({ shape: [1, 1, 8, 8], data: Float32Array.from(grey, (v) => v / 255) });
    const z = Array.from(logits.data);
    expect(rec.examples[0].predicted).toBe(z.indexOf(Math.max(...z)));
    const bad = run('explain', '--model', onnx, '--weights', onnx, '--mnist', '0', '--backend', 'cpu', '--out', dir);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--weights goes with --model <spec.json>, not an ONNX file/);
  });

  it('says in one stderr line, with a non-zero status, what was wrong: bad flag, missing file, wrong size, wrong model', () => {
    const dir = tmp();
    oneLine(run('explain', '--mnist', '0', '--bogus'), /unknown option '--bogus'/);
    oneLine(run('explain', '--mnist', '0', '--method', 'gradcam'), /--method must be among saliency, .*got 'gradcam'/);
    oneLine(run('explain', '--mnist', 'x'), /--mnist: index must be an integer >= 0, got 'x'/);
    oneLine(
      run('explain', '--input', join(dir, 'nope.png'), '--backend', 'cpu'),
      /--input: no such file '.*nope\.png'/,
    );
    writeFileSync(
      join(dir, 'big.png'),
      encode({ width: 32, height: 32, data: new Uint8Array(1024), channels: 1, depth: 8 }),
    );
    oneLine(
      run('explain', '--input', join(dir, 'big.png'), '--backend', 'cpu'),
      /big\.png is 32×32 pixels; the model expects 28×28/,
    );
    const mlp = join(dir, 'mlp.json');
    writeFileSync(
      mlp,
      JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'dense', name: 'fc1', out: 10 }] }),
    );
    oneLine(
      run(
        'explain',
        '--model',
        mlp,
        '--weights',
        join(MODELS, 'lenet-nat.safetensors'),
        '--mnist',
        '0',
        '--backend',
        'cpu',
      ),
      /\[INVALID_SPEC\]/,
    );
    oneLine(run('explain', '--model', mlp, '--mnist', '0', '--backend', 'cpu'), /needs --weights/);
    oneLine(run('explain', '--backend', 'cpu'), /either as --input .* or as --mnist/);
    // --verbose adds the stack trace.
    const v = run('explain', '--input', join(dir, 'nope.png'), '--backend', 'cpu', '--verbose');
    expect(v.status).toBe(1);
    expect(v.stderr).toMatch(/\n\s+at /);
  });
});

describe('smoothgeo attack, curvature, info, bench', () => {
  it('attack: top-k intersection starts at 1 (the map against itself) and the files are written', () => {
    const out = tmp();
    const r = run('attack', '--mnist', '0', '--iterations', '2', '--backend', 'cpu', '--out', out, '--json');
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.measure).toBe('topKIntersection');
    const e = rec.examples[0];
    expect(e.topKIntersection.before).toBe(1);
    expect(e.topKIntersection.after).toBeLessThanOrEqual(1);
    for (const f of Object.values(e.files) as string[]) expect(decode(readFileSync(f)).width).toBeGreaterThan(0);
    const bad = run('attack', '--mnist', '0', '--attack', 'targeted', '--backend', 'cpu');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--attack targeted needs --target-map/);
  });

  it('curvature: λ_max is the library’s, the top eigenvalue, and the Gauss–Newton Hessian has λ_min ≈ 0 ≤ λ_max', async () => {
    const out = tmp();
    const r = run(
      'curvature',
      '--mnist',
      '2',
      '--k',
      '2',
      '--lanczos-steps',
      '40',
      '--trace-samples',
      '4',
      '--density-probes',
      '2',
      '--density-steps',
      '8',
      '--backend',
      'cpu',
      '--out',
      out,
      '--json',
    );
    expect(r.status).toBe(0);
    const e = JSON.parse(r.stdout).examples[0];
    const model = await natModel();
    const want = await hessianEigen(
      model,
      await digit(2),
      { kind: 'crossEntropy', labels: [e.predicted] },
      {
        gaussNewton: true,
        which: 'largest',
        iterations: 40,
        seed: 1,
      },
    );
    expect(e.lambdaMax).toBeCloseTo(want.values[0][0], 10);
    expect(e.topK[0]).toBeCloseTo(e.lambdaMax, 6);
    expect(e.lambdaMin).toBeGreaterThan(-1e-6 * e.lambdaMax); // PSD up to rounding
    expect(e.trace).toBeGreaterThan(0);
    expect(decode(readFileSync(e.plot)).width).toBe(640);
  });

  it('info: the cpu backend is always there, and --backend cpu is picked as requested', () => {
    const r = run('info', '--backend', 'cpu', '--json');
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.backends.cpu.available).toBe(true);
    expect(rec.picked).toMatchObject({ requested: 'cpu', backend: 'cpu', reason: 'requested' });
    expect(rec.workLimits.imagePixels).toBe(2 ** 26);
    // wasm: its SIMD variant and threads (SIMD128 validates in every Node the package supports); by default
    // as many threads as cores, as its own describe() says.
    expect(rec.backends.wasm.available).toBe(true);
    expect(rec.backends.wasm.variant).toMatch(/^WebAssembly (relaxed-SIMD|SIMD128) kernels/);
    expect(rec.backends.wasm.threads.default).toBe(availableParallelism());
    expect(rec.backends.wasm.threads.max).toBe(availableParallelism());
    expect(rec.backends.wasm.describe).toMatch(
      new RegExp(`^backend wasm — WebAssembly .* ${rec.backends.wasm.threads.default} threads? `),
    );
  });

  it('bench: one row per batch size with every time measured', () => {
    const r = run('bench', '--batch', '1,2', '--reps', '1', '--samples', '2', '--backend', 'cpu', '--json');
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.rows.map((row: { batch: number }) => row.batch)).toEqual([1, 2]);
    for (const row of rec.rows)
      for (const k of ['forwardMs', 'gradientMs', 'hvpMs', 'smoothGradMs']) expect(Number.isFinite(row[k])).toBe(true);
  });

  it('every command has --help with an example, and --json', () => {
    for (const c of ['info', 'explain', 'attack', 'curvature', 'bench', 'train', 'evaluate', 'experiment']) {
      const r = run(c, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Example:\\n {2}smoothgeo ${c} `));
      expect(r.stdout).toMatch(/--json/);
      expect(r.stdout).toMatch(/--verbose/);
    }
  });
});

describe('every command: bad flags, missing files, models that do not fit the input', () => {
  const onnx8 = join(ROOT, 'test', 'fixtures', 'onnx', 'mixed_onnx.onnx'); // takes [1, 8, 8] inputs

  it('a bad flag: one line on stderr and a non-zero status, for each command', () => {
    for (const c of ['info', 'explain', 'attack', 'curvature', 'bench', 'evaluate', 'experiment'])
      oneLine(run(c, '--bogus'), /unknown option '--bogus'/);
    oneLine(run('train', '--model', 'm.json', '--out', 'm.safetensors', '--bogus'), /unknown option '--bogus'/);
    oneLine(run('train', '--out', 'm.safetensors'), /required option '--model <spec.json>' not specified/);
    oneLine(run('bench', '--batch', '0'), /batch size must be an integer >= 1, got '0'/);
    oneLine(run('info', '--backend', 'tpu'), /backend must be 'auto' or 'webgpu' or 'wasm' or 'cpu', got "tpu"/);
  });

  it('a missing file, named with its flag, for each command that reads one', () => {
    const dir = tmp();
    const nope = join(dir, 'nope');
    oneLine(run('explain', '--model', `${nope}.onnx`, '--mnist', '0', '--backend', 'cpu'), /--model: no such file/);
    oneLine(run('attack', '--input', `${nope}.png`, '--backend', 'cpu'), /--input: no such file '.*nope\.png'/);
    oneLine(
      run(
        'curvature',
        '--model',
        `${nope}.json`,
        '--weights',
        `${nope}.safetensors`,
        '--mnist',
        '0',
        '--backend',
        'cpu',
      ),
      /--model: no such file '.*nope\.json'/,
    );
    oneLine(run('bench', '--model', `${nope}.onnx`, '--backend', 'cpu'), /--model: no such file/);
    oneLine(run('evaluate', '--model', `${nope}.onnx`, '--backend', 'cpu'), /--model: no such file/);
    oneLine(
      run('train', '--model', `${nope}.json`, '--out', join(dir, 'm.safetensors'), '--backend', 'cpu'),
      /--model: no such file '.*nope\.json'/,
    );
    oneLine(
      run(
        'train',
        '--model',
        join(MODELS, 'lenet-relu.json'),
        '--init',
        `${nope}.safetensors`,
        '--out',
        join(dir, 'm.safetensors'),
      ),
      /--init: no such file '.*nope\.safetensors'/,
    );
    oneLine(run('experiment', '--models-dir', nope, '--backend', 'cpu'), /--models-dir: no such folder '.*nope'/);
    oneLine(run('experiment', '--spec', `${nope}.json`, '--backend', 'cpu'), /--spec: no such file '.*nope\.json'/);
  });

  it('a model that does not fit the input, for each command that takes inputs', () => {
    for (const c of ['explain', 'attack', 'curvature'])
      oneLine(
        run(c, '--model', onnx8, '--mnist', '0', '--backend', 'cpu'),
        /--mnist gives \[1, 28, 28\] digits, but the model expects \[1, 8, 8\]/,
      );
    oneLine(
      run('evaluate', '--model', onnx8, '--backend', 'cpu'),
      /takes \[1, 8, 8\] inputs and gives \d+ classes; MNIST digits need \[1, 28, 28\] and 10/,
    );
    const dir = tmp();
    const spec = join(dir, 'rgb.json');
    writeFileSync(
      spec,
      JSON.stringify({ input: [3, 8, 8], layers: [{ type: 'flatten' }, { type: 'dense', name: 'fc', out: 10 }] }),
    );
    oneLine(
      run('train', '--model', spec, '--out', join(dir, 'm.safetensors'), '--backend', 'cpu'),
      /takes \[3, 8, 8\] inputs and gives 10 classes; MNIST digits need \[1, 28, 28\] and 10/,
    );
    // --verbose: the same error with its stack trace.
    const v = run('train', '--model', spec, '--out', join(dir, 'm.safetensors'), '--backend', 'cpu', '--verbose');
    expect(v.status).toBe(1);
    expect(v.stderr).toMatch(/MNIST digits need/);
    expect(v.stderr).toMatch(/\n\s+at /);
  });
});

describe('progress bars and --json', () => {
  it('a progress bar on a terminal (stderr), none with --no-progress, none when piped', () => {
    const args = ['attack', '--mnist', '0', '--iterations', '2', '--backend', 'cpu', '--out', tmp()];
    const tty = runTty(...args);
    expect(tty.status).toBe(0);
    expect(tty.out).toMatch(/attack topk .* 2\/2 iterations/);
    const quiet = runTty(...args, '--no-progress');
    expect(quiet.status).toBe(0);
    expect(quiet.out).not.toMatch(/attack topk .*iterations/);
    expect(quiet.out).toMatch(/topKIntersection 1\.0000 →/);
    const piped = run(...args);
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe('');
  });

  it('--threads runs the wasm backend on worker threads, with the one-thread map; other backends refuse it', () => {
    const args = ['explain', '--mnist', '3', '--method', 'smoothgrad', '--samples', '4', '--seed', '1', '--json'];
    const one = run(...args, '--backend', 'wasm', '--threads', '1', '--out', tmp());
    const two = run(...args, '--backend', 'wasm', '--threads', '2', '--out', tmp());
    expect(one.status, one.stderr).toBe(0);
    expect(two.status, two.stderr).toBe(0);
    expect(JSON.parse(one.stdout).backend).toMatch(/1 thread\b/);
    expect(JSON.parse(two.stdout).backend).toMatch(/2 threads/);
    expect(JSON.parse(two.stdout).methods.smoothgrad.maps).toEqual(JSON.parse(one.stdout).methods.smoothgrad.maps);
    oneLine(
      run(...args, '--backend', 'cpu', '--threads', '2'),
      /--threads is for the wasm backend; --backend cpu runs on cpu/,
    );
    oneLine(run(...args, '--threads', '0'), /--threads must be an integer >= 1, got '0'/);
  });

  it('train --json prints the record it writes beside the checkpoint', () => {
    const out = join(tmp(), 'm.safetensors');
    const r = run(
      'train',
      '--model',
      join(MODELS, 'lenet-relu.json'),
      '--out',
      out,
      '--backend',
      'cpu',
      '--max-steps',
      '1',
      '--batch-size',
      '8',
      '--epochs',
      '1',
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.steps).toBe(1);
    expect(rec).toEqual(JSON.parse(readFileSync(out.replace(/\.safetensors$/, '.json'), 'utf8')));
  });
});
