#!/usr/bin/env node
// Runs a command with a WebGPU adapter available, setting it up when it can:
//   1. a hardware adapter Dawn finds (or a Vulkan driver the caller chose with VK_ICD_FILENAMES): used as is;
//   2. else SwiftShader from Debian's chromium package: Vulkan is pointed at it (VK_ICD_FILENAMES);
//   3. else, as root on Debian/Ubuntu with apt-get: `apt-get install chromium libvulkan1`, then 2;
//   4. else: when an adapter is required, stop at once with the exact command to run (exit 1); when not
//      (npm start outside CI), run anyway: the library falls back to its cpu backend and says why.
// An adapter is required with --require-adapter (npm test) and whenever CI is set (CI=true): in CI a missing
// adapter fails the run; the GPU tests are never skipped. --need-browser (npm test) also requires the
// chromium binary the browser tests drive.
//
// Paths and facts of the machine can be overridden through the environment, so that the set-up is testable
// without changing the machine (test/gpu-env.test.ts): SMOOTHGEO_SWIFTSHADER_ICD (SwiftShader's ICD file),
// CHROMIUM_PATH (the browser, as test/browser/harness.ts reads it), SMOOTHGEO_OS_RELEASE (/etc/os-release),
// SMOOTHGEO_UID (the user id), SMOOTHGEO_ASSUME_NO_GPU=1 (skip the hardware probe: as on a machine without a GPU).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const PACKAGES = ['chromium', 'libvulkan1'];
const INSTALL_ARGS = ['install', '-y', '--no-install-recommends', ...PACKAGES];

const argv = process.argv.slice(2);
const flags = new Set();
while (argv[0]?.startsWith('--')) flags.add(argv.shift());
const [cmd, ...args] = argv;
if (!cmd) {
  console.error('usage: node scripts/gpu-env.mjs [--require-adapter] [--need-browser] COMMAND [ARGS...]');
  process.exit(2);
}

const env = { ...process.env };
// Dawn's Vulkan loader complains when this is unset in containers; it is harmless but noisy.
env.XDG_RUNTIME_DIR ??= '/tmp';
const ci = !!env.CI && !/^(false|0)$/i.test(env.CI);
const requireAdapter = flags.has('--require-adapter') || ci;
const needBrowser = flags.has('--need-browser');
const icd = env.SMOOTHGEO_SWIFTSHADER_ICD || '/usr/lib/chromium/vk_swiftshader_icd.json';
const chromium = env.CHROMIUM_PATH || '/usr/bin/chromium';
const say = (msg) => console.error(`[gpu-env] ${msg}`);

/** What Dawn finds with `vkIcd` as the Vulkan driver (undefined: the system's): a summary, or null. */
function probe(vkIcd) {
  const penv = { ...env };
  if (vkIcd) penv.VK_ICD_FILENAMES = vkIcd;
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    import { create } from 'webgpu';
    const a = await create([]).requestAdapter();
    console.log(a ? JSON.stringify({ vendor: a.info.vendor, architecture: a.info.architecture, description: a.info.description }) : 'none');
  `,
    ],
    { encoding: 'utf8', env: penv, timeout: 60_000 },
  );
  const found = (r.stdout ?? '').trim().split('\n').pop() || 'none';
  return found === 'none' ? null : found;
}

/** Debian or Ubuntu (or a derivative), from os-release's ID and ID_LIKE. */
function debianLike() {
  const file = env.SMOOTHGEO_OS_RELEASE || '/etc/os-release';
  if (!existsSync(file)) return false;
  const ids = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => /^(ID|ID_LIKE)=/.test(l))
    .join(' ');
  return /debian|ubuntu/i.test(ids);
}

const uid = env.SMOOTHGEO_UID !== undefined ? Number(env.SMOOTHGEO_UID) : (process.getuid?.() ?? -1);
const onPath = (name) => (env.PATH ?? '').split(':').some((dir) => dir && existsSync(`${dir}/${name}`));

/** Stops at once with one message: what is missing and the exact command that fixes it. */
function stop(missing, fix = defaultFix()) {
  say(`cannot run ${cmd}: ${missing}; nothing was run.\n[gpu-env] to fix it, run: ${fix}`);
  process.exit(1);
}

function defaultFix() {
  return debianLike()
    ? `${uid === 0 ? '' : 'sudo '}apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}`
    : 'install Chromium (it ships SwiftShader: vk_swiftshader_icd.json) and the Vulkan loader (libvulkan.so.1), then set ' +
        'SMOOTHGEO_SWIFTSHADER_ICD to that vk_swiftshader_icd.json, or run on a machine with a GPU';
}

/** Installs the packages as root on Debian/Ubuntu; says why not otherwise (false). */
let installed = false;
function install(missing) {
  if (!(uid === 0 && debianLike() && onPath('apt-get'))) return false;
  installed = true;
  say(`${missing}; installing ${PACKAGES.join(' ')} with apt-get`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const a of [['update', '-qq'], INSTALL_ARGS]) {
    const r = spawnSync('apt-get', a, { stdio: ['ignore', 'inherit', 'inherit'], env: aptEnv });
    if (r.status !== 0)
      stop(`${missing}, and \`apt-get ${a.join(' ')}\` failed (exit ${r.status ?? r.signal ?? r.error?.message})`);
  }
  return true;
}

/** Finds an adapter (installing SwiftShader when it can); returns how, or null when none and not required. */
function setUp() {
  if (env.VK_ICD_FILENAMES) {
    const found = probe(undefined);
    if (found) return `the Vulkan driver VK_ICD_FILENAMES=${env.VK_ICD_FILENAMES} names: ${found}`;
    if (requireAdapter) stop(`no WebGPU adapter with the Vulkan driver VK_ICD_FILENAMES=${env.VK_ICD_FILENAMES}`);
    return null;
  }
  const hardware = env.SMOOTHGEO_ASSUME_NO_GPU === '1' ? null : probe(undefined);
  if (hardware && !/swiftshader|llvmpipe|lavapipe/i.test(hardware)) return `hardware WebGPU adapter: ${hardware}`;
  for (;;) {
    let missing;
    if (existsSync(icd)) {
      const found = probe(icd);
      if (found) {
        env.VK_ICD_FILENAMES = icd;
        return `no hardware WebGPU adapter; using SwiftShader (VK_ICD_FILENAMES=${icd}): ${found}`;
      }
      missing = `SwiftShader is at ${icd} but Dawn finds no adapter with it (is the Vulkan loader libvulkan.so.1 installed?)`;
    } else {
      missing = `no hardware WebGPU adapter, and no SwiftShader at ${icd}`;
    }
    if (!requireAdapter) {
      say(`${missing} (${uid === 0 ? '' : 'sudo '}apt-get install -y ${PACKAGES.join(' ')}); running without WebGPU`);
      return null;
    }
    if (installed) {
      stop(
        `${missing}, even after installing ${PACKAGES.join(' ')}`,
        `SMOOTHGEO_SWIFTSHADER_ICD=/path/to/vk_swiftshader_icd.json npm test (where this system's chromium keeps SwiftShader: \`dpkg -L chromium | grep vk_swiftshader\`)`,
      );
    }
    if (!install(missing)) stop(missing);
  }
}

const how = setUp();
if (how) say(how);
if (needBrowser && !existsSync(chromium)) {
  const missing = `the browser tests need Chromium at ${chromium}, which is missing`;
  if (installed || !install(missing) || !existsSync(chromium)) stop(missing);
}
const r = spawnSync(cmd.endsWith('.mjs') ? process.execPath : cmd, cmd.endsWith('.mjs') ? [cmd, ...args] : args, {
  stdio: 'inherit',
  env,
  shell: false,
});
process.exit(r.status ?? 1);
