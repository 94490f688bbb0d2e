// ESLint (flat config) with typescript-eslint over src/, test/, bench/, examples/ and scripts/.
//
// typescript-eslint needs TypeScript's JavaScript API, which TypeScript 7 (the native compiler this project
// builds and type-checks with) does not ship. The parser gets TypeScript 6 instead, installed under the alias
// `typescript-api`: requests for 'typescript' made by typescript-eslint's own modules resolve to it. Nothing
// else is redirected (.npmrc: legacy-peer-deps, since typescript-eslint's peer range stops before 7).
import { createRequire } from 'node:module';
import Module from 'node:module';

const require = createRequire(import.meta.url);
const tsApi = require.resolve('typescript-api');
const resolve = Module._resolveFilename;
// typescript-eslint's packages and ts-api-utils (which they load) are the only modules here that ask for 'typescript'.
const LINT_STACK = /[\\/]node_modules[\\/](@typescript-eslint[\\/][^\\/]+|typescript-eslint|ts-api-utils)[\\/]/;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === 'typescript' && LINT_STACK.test(parent?.filename ?? '')) return tsApi;
  return resolve.call(this, request, parent, ...rest);
};

const { default: js } = await import('@eslint/js');
const { default: tseslint } = await import('typescript-eslint');
const { default: globals } = await import('globals');

export default tseslint.config(
  {
    // kernels/ and bench/wasm-peak/*.ts are AssemblyScript (v128, load<T>, decorators): compiled and checked
    // by asc in build.mjs, not TypeScript.
    ignores: [
      'dist/**',
      'node_modules/**',
      'out/**',
      'test/fixtures/**',
      'test/browser/pages/**',
      'kernels/**',
      'bench/wasm-peak/*.ts',
      'src/backend/wasm/kernels.generated.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      // `_name` marks a parameter or binding kept for its position or documentation.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Tests read fixtures whose JSON has no static type.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
