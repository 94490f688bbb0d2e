import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { kernelVariant, simdSupported } from '../../backend/wasm/module.js';
import { planThreads } from '../../backend/wasm/threads.js';
import { findWebGPU } from '../../backend/webgpu/device.js';
import { createEngine } from '../../engine.js';
import { LIMITS } from '../../limits.js';
import { emit, VERSION } from '../common.js';

/** What the WebGPU adapter offers (the limits the engine asks its device for among them), or why there is none. */
async function webgpuReport(): Promise<{ available: boolean; reason?: string; limits?: Record<string, number> }> {
  try {
    const engine = await createEngine({ backend: 'webgpu' });
    engine.dispose();
    const adapter = await (await findWebGPU()).requestAdapter();
    const limits: Record<string, number> = {};
    if (adapter)
      for (const k of [
        'maxBufferSize',
        'maxStorageBufferBindingSize',
        'maxComputeWorkgroupStorageSize',
        'maxComputeInvocationsPerWorkgroup',
        'maxComputeWorkgroupSizeX',
        'maxComputeWorkgroupsPerDimension',
        'maxStorageBuffersPerShaderStage',
      ] as const)
        limits[k] = adapter.limits[k];
    return { available: true, limits };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/**
 * The wasm backend here: its kernel variant (relaxed SIMD or SIMD128; a second build on a shared memory for
 * threads), the threads it runs by default and how to ask for others, and its own description.
 */
async function wasmReport(): Promise<{
  available: boolean;
  reason?: string;
  variant?: string;
  threads?: { default: number; why: string; max: number; how: string };
  describe?: string;
}> {
  if (!simdSupported())
    return { available: false, reason: 'this JavaScript engine does not validate WebAssembly SIMD128' };
  try {
    const engine = await createEngine({ backend: 'wasm' });
    const describe = engine.describe();
    engine.dispose();
    const shared = typeof SharedArrayBuffer === 'function';
    const plan = await planThreads(undefined);
    return {
      available: true,
      variant: `${kernelVariant()}; ${shared ? 'the shared-memory build for threads runs here' : 'no SharedArrayBuffer here, so one thread'}`,
      threads: {
        default: plan.threads,
        why: plan.note.trim().replace(/^\((.*)\)$/, '$1'),
        max: shared ? availableParallelism() : 1,
        how: '--threads n, or createEngine({ backend: "wasm", threads })',
      },
      describe,
    };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/** `smoothgeo info`: the backends here, the one `auto` picks and why, the adapter and its limits. */
export function infoCommand(): Command {
  return new Command('info')
    .description('the backends available here, the one --backend auto picks and why, the WebGPU adapter and its limits')
    .option('--backend <name>', 'the backend to describe as picked (auto, webgpu, wasm or cpu)', 'auto')
    .option('--json', 'print one JSON object on stdout instead of text')
    .option('--verbose', 'print the stack trace of an error')
    .addHelpText('after', '\nExample:\n  smoothgeo info --json')
    .action(async (o) => {
      const picked = await createEngine({ backend: o.backend });
      const webgpu = await webgpuReport();
      const wasm = await wasmReport();
      const record = {
        version: VERSION,
        node: process.version,
        backends: { cpu: { available: true }, wasm, webgpu },
        picked: { requested: o.backend, backend: picked.backend, reason: picked.reason, describe: picked.describe() },
        adapter: picked.adapter,
        workLimits: LIMITS,
      };
      picked.dispose();
      emit(o.json, record, () => [
        `smoothgeo ${VERSION} on Node ${process.version}`,
        `backends: cpu (float64 reference, always), wasm ${wasm.available ? '(available)' : `(unavailable: ${wasm.reason})`}, webgpu ${webgpu.available ? '(available)' : `(unavailable: ${webgpu.reason})`}`,
        ...(wasm.available
          ? [
              `wasm: ${wasm.variant}; ${wasm.threads!.default} thread(s) by default (${wasm.threads!.why}), cores here ${wasm.threads!.max} (${wasm.threads!.how})`,
            ]
          : []),
        `--backend ${o.backend} picks ${record.picked.backend}: ${record.picked.reason}`,
        ...(picked.adapter
          ? [
              `adapter: ${[picked.adapter.vendor, picked.adapter.architecture, picked.adapter.description].filter(Boolean).join(' / ')}${picked.adapter.software ? ' (software: correct but slow)' : ''}; timestamp queries ${picked.adapter.timestamps ? 'yes' : 'no'}`,
            ]
          : []),
        ...Object.entries(webgpu.limits ?? {}).map(([k, v]) => `  ${k}: ${v}`),
      ]);
    });
}
