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
  // Dawn for Node is a native addon; cli-progress, node:module, node:fs and node:path serve the CLI, the training
  // progress bar and the shader dump to a directory: loaded at run time in Node, never reached in browsers.
  external: ['webgpu', 'cli-progress', 'node:module', 'node:fs', 'node:path'],
  logLevel: 'warning',
};
await Promise.all([
  build({ ...common, platform: 'node', outfile: 'dist/smoothgeo.node.mjs' }),
  build({ ...common, platform: 'browser', outfile: 'dist/smoothgeo.browser.mjs' }),
  // The `smoothgeo` bin: Node only, every npm dependency loaded at run time.
  build({
    ...common,
    entryPoints: ['src/cli/main.ts'],
    platform: 'node',
    packages: 'external',
    outfile: 'dist/cli.mjs',
    banner: { js: '#!/usr/bin/env node' },
  }),
]);
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.', '--emitDeclarationOnly'], {
  stdio: 'inherit',
});
console.log('built dist/smoothgeo.node.mjs, dist/smoothgeo.browser.mjs, dist/cli.mjs, dist/types/');
