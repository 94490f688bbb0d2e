// The package as a user gets it: `npm pack` of this build (npm test builds first), installed into an empty
// folder with nothing of the repository's dev tools. There: the ESM import and the CommonJS require in
// Node, the bin from node_modules/.bin and from a global install, the types under tsc in an ESM and in a
// CommonJS consumer project, a browser bundle by esbuild. Packages come from npm's cache when it has them (--prefer-offline).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir = '';
let consumer = '';
let tarball = '';

function sh(cmd: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_yes: 'true' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'smoothgeo-pack-'));
  const name = execFileSync(NPM, ['pack', '--silent', '--pack-destination', dir], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
  tarball = join(dir, name.split('\n').pop()!);
  consumer = join(dir, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // --engine-strict: a dependency whose `engines.node` excludes this Node (the package promises node >= 20) fails
  // the install, as it would for a user with engine-strict set (commander 15 needs node >= 22.12 and once slipped in).
  const r = sh(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--engine-strict', tarball], consumer);
  expect(r.status, r.stderr).toBe(0);
}, 180_000);

describe('the packed package', () => {
  it('holds the library, the shaders and the shipped models, and no tests or fixtures', () => {
    const r = sh('tar', ['-tzf', tarball], dir);
    const files = r.stdout.split('\n').filter(Boolean);
    expect(files).toContain('package/dist/smoothgeo.node.mjs');
    expect(files).toContain('package/dist/smoothgeo.node.cjs');
    expect(files).toContain('package/dist/types/index.d.cts');
    expect(files).toContain('package/dist/cli.mjs');
    expect(files).toContain('package/dist/types/index.d.ts');
    expect(files).toContain('package/examples/models/lenet-ssr.safetensors');
    expect(files.filter((f) => /^package\/(test|src|bench|scripts)\//.test(f))).toEqual([]);
  });

  it('imports as ESM in Node and explains a digit on the cpu backend', () => {
    writeFileSync(
      join(consumer, 'use.mjs'),
      `import { createEngine, loadModel, smoothGrad, attributionMap } from 'smoothgeo';
import { readFileSync } from 'node:fs';
const models = new URL('./node_modules/smoothgeo/examples/models/', import.meta.url);
const engine = await createEngine({ backend: 'cpu' });
const model = await loadModel(engine, JSON.parse(readFileSync(new URL('lenet-relu.json', models), 'utf8')), readFileSync(new URL('lenet-nat.safetensors', models)));
const x = { shape: [1, 1, 28, 28], data: new Float32Array(784).map((_, i) => (i % 28 > 10 && i % 28 < 16 ? 1 : 0)) };
const r = await smoothGrad(model, x, { target: [1], samples: 4, sigma: 0.1, seed: 1 });
const m = attributionMap(r.attributions);
console.log(JSON.stringify({ shape: m.shape, sum: m.data.reduce((a, v) => a + v, 0) }));
`,
    );
    const r = sh(process.execPath, ['use.mjs'], consumer);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.shape).toEqual([1, 28, 28]);
    expect(out.sum).toBeCloseTo(784, 2); // attributionMap normalises each map to sum to H·W
  });

  it('requires as CommonJS in Node: the same explanation as the ESM build, and the MNIST digits found', () => {
    const program = (load: string) => `${load}
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
(async () => {
  const { createEngine, loadModel, smoothGrad, attributionMap, loadMnist } = await smoothgeo();
  const models = join(process.cwd(), 'node_modules', 'smoothgeo', 'examples', 'models');
  const engine = await createEngine({ backend: 'cpu' });
  const model = await loadModel(engine, JSON.parse(readFileSync(join(models, 'lenet-relu.json'), 'utf8')), readFileSync(join(models, 'lenet-nat.safetensors')));
  const { test } = await loadMnist({ seed: 1 });
  const x = { shape: [1, 1, 28, 28], data: test.x.data.slice(0, 784) };
  const r = await smoothGrad(model, x, { target: [test.labels[0]], samples: 4, sigma: 0.1, seed: 1 });
  console.log(JSON.stringify(Array.from(attributionMap(r.attributions).data)));
})();
`;
    // The same program, its module loaded by require() or by import(): the two builds compute alike.
    writeFileSync(join(consumer, 'use-require.cjs'), program("const smoothgeo = async () => require('smoothgeo');"));
    writeFileSync(join(consumer, 'use-import.cjs'), program("const smoothgeo = () => import('smoothgeo');"));
    const viaRequire = sh(process.execPath, ['use-require.cjs'], consumer);
    expect(viaRequire.stderr).toBe('');
    const viaImport = sh(process.execPath, ['use-import.cjs'], consumer);
    expect(viaImport.stderr).toBe('');
    const map = JSON.parse(viaRequire.stdout) as number[];
    expect(map).toHaveLength(784);
    expect(map.reduce((a, v) => a + v, 0)).toBeCloseTo(784, 2);
    expect(map).toEqual(JSON.parse(viaImport.stdout));
    // require resolved the CommonJS build, not the ES module.
    const which = sh(process.execPath, ['-p', "require.resolve('smoothgeo')"], consumer);
    expect(which.stdout.trim()).toMatch(/dist[\\/]smoothgeo\.node\.cjs$/);
  });

  it('runs the smoothgeo bin from node_modules/.bin and from a global install', () => {
    const local = sh(join(consumer, 'node_modules', '.bin', 'smoothgeo'), ['explain', '--help'], consumer);
    expect(local.status).toBe(0);
    expect(local.stdout).toMatch(/Example:\n {2}smoothgeo explain/);
    const prefix = join(dir, 'global');
    const g = sh(
      NPM,
      ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball],
      dir,
    );
    expect(g.status, g.stderr).toBe(0);
    const bin = join(prefix, process.platform === 'win32' ? 'smoothgeo.cmd' : join('bin', 'smoothgeo'));
    expect(existsSync(bin)).toBe(true);
    const v = sh(bin, ['--version'], dir);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('gives types that tsc resolves in a consumer project, and that catch a misuse', () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
        },
        files: ['index.ts'],
      }),
    );
    const source = (ok: boolean) => `import { createEngine, loadModel, smoothGrad, type Tensor } from 'smoothgeo';
const engine = await createEngine({ backend: 'cpu' });
const x: Tensor = { shape: [1, 1, 28, 28], data: new Float32Array(784) };
const model = await loadModel(engine, { input: [1, 28, 28], layers: [] }, new Uint8Array());
const r = await smoothGrad(model, x, { target: [0], samples: 4 });
export const n: ${ok ? 'number' : 'string'} = r.attributions.shape[0];
`;
    writeFileSync(join(consumer, 'index.ts'), source(true));
    const good = sh(process.execPath, [tsc, '-p', '.'], consumer);
    expect(good.stdout + good.stderr).toBe('');
    expect(good.status).toBe(0);
    // The same program with a wrong type: the declarations are really read, not resolved to any.
    writeFileSync(join(consumer, 'index.ts'), source(false));
    const bad = sh(process.execPath, [tsc, '-p', '.'], consumer);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/Type 'number' is not assignable to type 'string'/);
  });

  it('gives CommonJS types (.d.cts) that tsc resolves for a require-style consumer, and that catch a misuse', () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const cjs = join(consumer, 'cjs');
    mkdirSync(cjs, { recursive: true });
    writeFileSync(
      join(cjs, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
        },
        files: ['index.cts'],
      }),
    );
    // In a .cts file `import` compiles to require(): resolved through the "require" condition.
    const source = (ok: boolean) => `import { createEngine, createHeatmapRenderer, type Tensor } from 'smoothgeo';
export const x: Tensor = { shape: [1, 2], data: new Float32Array(2) };
export const kind: Promise<${ok ? "'webgpu' | '2d'" : 'number'}> = createHeatmapRenderer().then((r) => r.kind);
export const engine = createEngine({ backend: 'cpu' });
`;
    writeFileSync(join(cjs, 'index.cts'), source(true));
    const good = sh(process.execPath, [tsc, '-p', '.', '--explainFiles'], cjs);
    expect(good.status, good.stdout).toBe(0);
    expect(good.stdout).toMatch(/smoothgeo\/dist\/types\/index\.d\.cts/);
    writeFileSync(join(cjs, 'index.cts'), source(false));
    const bad = sh(process.execPath, [tsc, '-p', '.'], cjs);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/is not assignable to type 'Promise<number>'/);
  });

  it('bundles for the browser with esbuild from the consumer project', () => {
    writeFileSync(
      join(consumer, 'web.js'),
      "import { createEngine, smoothGrad } from 'smoothgeo';\nconsole.log(createEngine, smoothGrad);\n",
    );
    const esbuild = join(ROOT, 'node_modules', '.bin', 'esbuild');
    const r = sh(
      esbuild,
      ['web.js', '--bundle', '--platform=browser', '--format=esm', '--outfile=web.bundle.js'],
      consumer,
    );
    expect(r.status, r.stderr).toBe(0);
    const bundle = readFileSync(join(consumer, 'web.bundle.js'), 'utf8');
    expect(bundle).toContain('navigator.gpu'); // the browser build, which finds WebGPU on navigator
    expect(bundle).not.toMatch(/from ["']webgpu["']|require\(["']webgpu["']\)/);
  });
});
