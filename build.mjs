// Builds the library: ESM bundles for Node and for browsers (WGSL inlined as text) and .d.ts files.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
// In the browser build the Node-only modules become modules that throw on load, naming themselves: their
// dynamic imports sit behind Node checks and never run in a browser, and a consumer's bundler (esbuild,
// Vite, webpack) must not try to resolve Dawn, cli-progress or node:fs from them (test/package.test.ts).
const nodeOnly = {
  name: 'node-only',
  setup(b) {
    b.onResolve({ filter: /^(webgpu|cli-progress|node:.*)$/ }, (a) => ({ path: a.path, namespace: 'node-only' }));
    b.onLoad({ filter: /.*/, namespace: 'node-only' }, (a) => ({
      contents: `throw new Error(${JSON.stringify(`'${a.path}' is Node-only; the browser build of smoothgeo does not include it`)});`,
      loader: 'js',
    }));
  },
};
await Promise.all([
  build({ ...common, platform: 'node', outfile: 'dist/smoothgeo.node.mjs' }),
  // `require('smoothgeo')`: the same Node build as CommonJS. The source has no top-level await; its one
  // import.meta.url (finding the mnist package) becomes this file's URL, and its dynamic imports of webgpu,
  // cli-progress and node:* stay import() calls, which CommonJS has too (webgpu is an ES module).
  build({
    ...common,
    platform: 'node',
    format: 'cjs',
    outfile: 'dist/smoothgeo.node.cjs',
    define: { 'import.meta.url': '__smoothgeo_import_meta_url' },
    banner: { js: "const __smoothgeo_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  }),
  build({ ...common, external: [], plugins: [nodeOnly], platform: 'browser', outfile: 'dist/smoothgeo.browser.mjs' }),
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
// Types for `require`: the same declarations as .d.cts files (a .d.ts in a "type": "module" package
// declares an ES module, which a CommonJS consumer under nodenext may not require).
for (const f of readdirSync('dist/types', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'))) {
  const text = readFileSync(join('dist/types', f), 'utf8').replace(
    /(from\s+|import\()(['"])(\.{1,2}\/[^'"]*)\.js\2/g,
    '$1$2$3.cjs$2',
  );
  writeFileSync(join('dist/types', f.replace(/\.d\.ts$/, '.d.cts')), text);
}
console.log(
  'built dist/smoothgeo.node.mjs, dist/smoothgeo.node.cjs, dist/smoothgeo.browser.mjs, dist/cli.mjs, dist/types/ (.d.ts, .d.cts)',
);
