// Shader dumps for debugging: every composed kernel's WGSL with its pipeline key. Asked for with the engine
// option `debug: { dumpShaders }` or the environment variable SMOOTHGEO_DUMP_SHADERS (Node): `1` prints to
// stderr, any other value is a directory that receives one `.wgsl` file per pipeline.
import type { ShaderDump } from './context.js';

/** true: to the console (stderr in Node); a string: a directory (Node); a function: called with each shader. */
export type DumpShaders = boolean | string | ShaderDump;

const header = (key: string, label: string) => `// smoothgeo kernel ${label}\n// key ${key}\n`;

/** The dump the option (or, when it is undefined, SMOOTHGEO_DUMP_SHADERS) asks for, or null. */
export async function shaderDump(option: DumpShaders | undefined): Promise<ShaderDump | null> {
  const env = typeof process !== 'undefined' ? process.env?.SMOOTHGEO_DUMP_SHADERS : undefined;
  const want = option ?? (env ? (env === '1' || env === 'true' ? true : env) : undefined);
  if (want === undefined || want === false) return null;
  if (typeof want === 'function') return want;
  if (want === true) return (key, label, code) => console.error(`${header(key, label)}${code}\n`);
  const fs = await import('node:fs');
  const path = await import('node:path');
  fs.mkdirSync(want, { recursive: true });
  let n = 0;
  return (key, label, code) => {
    const file = path.join(want, `${String(++n).padStart(4, '0')}-${label.replace(/[^A-Za-z0-9._-]+/g, '_')}.wgsl`);
    fs.writeFileSync(file, `${header(key, label)}${code}\n`);
  };
}
