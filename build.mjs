// Builds the library: ESM bundles for Node and for browsers (WGSL inlined as text) and .d.ts files.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
const common = {
  entryPoints: ['src/index.ts'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  // Dawn for Node is a native addon, and node:fs/node:path serve only the shader dump to a directory: loaded
  // at run time in Node, never reached in browsers.
  external: ['webgpu', 'node:fs', 'node:path'],
  logLevel: 'warning',
};
await Promise.all([
  build({ ...common, platform: 'node', outfile: 'dist/smoothgeo.node.mjs' }),
  build({ ...common, platform: 'browser', outfile: 'dist/smoothgeo.browser.mjs' }),
]);
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.', '--emitDeclarationOnly'], { stdio: 'inherit' });
console.log('built dist/smoothgeo.node.mjs, dist/smoothgeo.browser.mjs, dist/types/');
