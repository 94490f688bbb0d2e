// Device acquisition: finds the WebGPU entry point (given, navigator.gpu, or npm `webgpu` (Dawn) in Node),
// opens an adapter and a device with the adapter's own buffer limits, and summarises the adapter.
import { fail } from '../../errors.js';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation of WebGPU (SwiftShader, llvmpipe/lavapipe, WARP): correct but slow. */
  software: boolean;
  /** Whether the device can time kernels (the 'timestamp-query' feature; engine.profile needs it). */
  timestamps: boolean;
}

function summarize(info: GPUAdapterInfo, isFallback: boolean, timestamps: boolean): AdapterSummary {
  const s = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
  };
  const software = isFallback || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(Object.values(s).join(' '));
  return { ...s, software, timestamps };
}

/** Opens a device on the entry point's adapter. */
export async function openDevice(
  gpu: GPU,
  powerPreference?: GPUPowerPreference,
): Promise<{ device: GPUDevice; info: AdapterSummary }> {
  const adapter = await gpu.requestAdapter(powerPreference ? { powerPreference } : undefined);
  if (!adapter) {
    fail(
      'BACKEND_UNAVAILABLE',
      'no WebGPU adapter: requestAdapter() returned null (on a machine without a GPU, install Debian chromium + libvulkan1 and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json, as scripts/gpu-env.mjs does)',
    );
  }
  // Ask for the adapter's own buffer limits: the defaults (128 MiB bindings) are far below most GPUs'.
  const requiredLimits: Record<string, number> = {};
  for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const) {
    requiredLimits[k] = adapter.limits[k];
  }
  // Timestamps are asked for where the adapter has them, so that engine.profile can time kernels; nothing
  // else depends on them.
  const timestamps = adapter.features.has('timestamp-query');
  const device = await adapter.requestDevice({
    label: 'smoothgeo',
    requiredLimits,
    requiredFeatures: timestamps ? ['timestamp-query'] : [],
  });
  const fallback =
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    (adapter.info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { device, info: summarize(adapter.info, fallback, timestamps) };
}

/** The WebGPU entry point: `gpu` when given, else navigator.gpu, else npm `webgpu` (Dawn) in Node. */
export async function findWebGPU(gpu?: GPU): Promise<GPU> {
  let entry = gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!entry && typeof process !== 'undefined' && process.versions?.node) {
    try {
      const mod = await import('webgpu');
      entry = mod.create([]) as GPU;
    } catch (e) {
      fail(
        'BACKEND_UNAVAILABLE',
        `no WebGPU in this Node process: loading npm package 'webgpu' (Dawn) failed: ${(e as Error).message}`,
      );
    }
  }
  if (!entry)
    fail(
      'BACKEND_UNAVAILABLE',
      'no WebGPU here: navigator.gpu is undefined (a browser without WebGPU, or an insecure context)',
    );
  return entry;
}
