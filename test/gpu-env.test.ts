import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

/*
 * The set-up of `npm test` (scripts/gpu-env.mjs) on machine states this machine is not in, without changing
 * it: the machine's facts come from environment overrides (no GPU, where SwiftShader's ICD is, the user id,
 * os-release) and `apt-get` is a fake on a PATH that holds nothing else but node. The fake logs its arguments
 * and, in one case, "installs" SwiftShader by writing an ICD file that points at the real driver.
 */
const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'gpu-env.mjs');
const REAL_SWIFTSHADER = '/usr/lib/chromium/libvk_swiftshader.so';

function machine(o: { uid: number; os: 'debian' | 'fedora'; installCreatesIcd?: boolean; ci?: boolean }) {
  const dir = mkdtempSync(join(tmpdir(), 'gpu-env-'));
  const icd = join(dir, 'lib', 'vk_swiftshader_icd.json');
  const log = join(dir, 'apt-get.log');
  const bin = join(dir, 'bin');
  spawnSync('mkdir', ['-p', bin, join(dir, 'lib')]);
  const create = o.installCreatesIcd
    ? `if [ "$1" = install ]; then printf '%s' '{"file_format_version": "1.0.0", "ICD": {"library_path": "${REAL_SWIFTSHADER}", "api_version": "1.0.5"}}' > '${icd}'; fi\n`
    : '';
  writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "apt-get $*" >> '${log}'\n${create}exit 0\n`);
  chmodSync(join(bin, 'apt-get'), 0o755);
  const osRelease = join(dir, 'os-release');
  writeFileSync(osRelease, o.os === 'debian' ? 'ID=debian\nVERSION_ID="12"\n' : 'ID=fedora\nID_LIKE=""\n');
  const env: Record<string, string> = {
    PATH: `${bin}:${dirname(process.execPath)}`,
    HOME: dir,
    XDG_RUNTIME_DIR: '/tmp',
    SMOOTHGEO_ASSUME_NO_GPU: '1',
    SMOOTHGEO_SWIFTSHADER_ICD: icd,
    SMOOTHGEO_UID: String(o.uid),
    SMOOTHGEO_OS_RELEASE: osRelease,
    CHROMIUM_PATH: process.execPath, // a file that exists: the browser binary is not what these cases are about
  };
  if (o.ci) env.CI = 'true';
  const run = (...flags: string[]) =>
    spawnSync(process.execPath, [SCRIPT, ...flags, process.execPath, '-e', 'console.log("THE COMMAND RAN")'], {
      encoding: 'utf8',
      env,
      cwd: join(import.meta.dirname, '..'),
      timeout: 90_000,
    });
  const apt = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
  return { run, apt };
}

describe('npm test sets up its WebGPU adapter (scripts/gpu-env.mjs)', () => {
  it('root on Debian without SwiftShader: installs chromium and libvulkan1 with apt-get, then runs on SwiftShader', async () => {
    const m = machine({ uid: 0, os: 'debian', installCreatesIcd: true });
    const r = m.run('--require-adapter');
    expect(m.apt()).toEqual(['apt-get update -qq', 'apt-get install -y --no-install-recommends chromium libvulkan1']);
    expect(r.stderr).toMatch(/using SwiftShader \(VK_ICD_FILENAMES=.*vk_swiftshader_icd\.json\)/);
    expect(r.stdout).toMatch(/THE COMMAND RAN/);
    expect(r.status).toBe(0);
  });

  it('root on Debian when the install does not bring SwiftShader: stops at once, non-zero, one message', () => {
    const m = machine({ uid: 0, os: 'debian' });
    const r = m.run('--require-adapter');
    expect(m.apt()).toEqual(['apt-get update -qq', 'apt-get install -y --no-install-recommends chromium libvulkan1']);
    expect(r.status).toBe(1);
    expect(r.stdout).not.toMatch(/THE COMMAND RAN/);
    expect(r.stderr).toMatch(
      /cannot run .*: no hardware WebGPU adapter, and no SwiftShader at .*, even after installing chromium libvulkan1/,
    );
  });

  it('not root: installs nothing, stops at once with the exact command to run', () => {
    const m = machine({ uid: 1000, os: 'debian' });
    const r = m.run('--require-adapter');
    expect(m.apt()).toEqual([]);
    expect(r.status).toBe(1);
    expect(r.stdout).not.toMatch(/THE COMMAND RAN/);
    expect(r.stderr).toMatch(/to fix it, run: sudo apt-get install -y --no-install-recommends chromium libvulkan1\n$/);
    expect(r.stderr.trim().split('\n')).toHaveLength(2);
  });

  it('not Debian: stops with what to install, without calling apt-get', () => {
    const m = machine({ uid: 0, os: 'fedora' });
    const r = m.run('--require-adapter');
    expect(m.apt()).toEqual([]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/to fix it, run: install Chromium .*SMOOTHGEO_SWIFTSHADER_ICD/);
  });

  it('npm start (no adapter required) runs anyway and says why; with CI=true a missing adapter fails the run', () => {
    const relaxed = machine({ uid: 1000, os: 'debian' }).run();
    expect(relaxed.status).toBe(0);
    expect(relaxed.stdout).toMatch(/THE COMMAND RAN/);
    expect(relaxed.stderr).toMatch(/no SwiftShader at .* running without WebGPU/);
    const inCi = machine({ uid: 1000, os: 'debian', ci: true }).run();
    expect(inCi.status).toBe(1);
    expect(inCi.stdout).not.toMatch(/THE COMMAND RAN/);
  });
});
