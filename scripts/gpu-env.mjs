#!/usr/bin/env node
// Runs a command with a WebGPU adapter available. If Dawn finds a real (hardware) adapter, or the caller
// already chose a Vulkan driver with VK_ICD_FILENAMES, nothing changes. Otherwise, on a machine without a
// GPU, it points Vulkan at SwiftShader from Debian's chromium package so Dawn gets a software adapter.
// It says which it chose; the library itself reports the adapter it ends up using.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: node scripts/gpu-env.mjs COMMAND [ARGS...]');
  process.exit(2);
}

const env = { ...process.env };
if (!env.VK_ICD_FILENAMES) {
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { create } from 'webgpu';
    const a = await create([]).requestAdapter();
    console.log(a ? JSON.stringify({ vendor: a.info.vendor, architecture: a.info.architecture, description: a.info.description }) : 'none');
  `], { encoding: 'utf8', env });
  const found = probe.stdout.trim().split('\n').pop() ?? 'none';
  const software = found === 'none' || /swiftshader|llvmpipe|lavapipe/i.test(found);
  if (software && existsSync(SWIFTSHADER_ICD)) {
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    console.error(`[gpu-env] no hardware WebGPU adapter found; using SwiftShader (VK_ICD_FILENAMES=${SWIFTSHADER_ICD})`);
  } else if (software) {
    console.error(`[gpu-env] no hardware WebGPU adapter and no SwiftShader at ${SWIFTSHADER_ICD} (apt-get install chromium libvulkan1)`);
  } else {
    console.error(`[gpu-env] hardware WebGPU adapter: ${found}`);
  }
}
// Dawn's Vulkan loader complains when this is unset in containers; it is harmless but noisy.
env.XDG_RUNTIME_DIR ??= '/tmp';
const r = spawnSync(cmd.endsWith('.mjs') ? process.execPath : cmd, cmd.endsWith('.mjs') ? [cmd, ...args] : args, { stdio: 'inherit', env, shell: false });
process.exit(r.status ?? 1);
