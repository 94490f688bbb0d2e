// The WebGPU heatmap renderer: one render pipeline per target format (shaders/heatmap.wgsl), a textured
// quad per draw. `record` draws into any texture view (tests render into a texture and read it back);
// `drawCanvas` into a canvas's current texture, which the browser presents after the task.
import source from '../../shaders/heatmap.wgsl';
import { fail } from '../errors.js';
import type { HeatmapPlane } from './plane.js';
import type { ViewMatrices } from './types.js';

// WebGPU's flag values, spelled out: Node's Dawn does not install GPUTextureUsage & co. as globals.
const TEXTURE_COPY_DST = 0x2;
const TEXTURE_BINDING = 0x4;
const BUFFER_COPY_DST = 0x8;
const BUFFER_UNIFORM = 0x40;
const STAGE_VERTEX = 0x1;
const STAGE_FRAGMENT = 0x2;
/** The View uniform of heatmap.wgsl: mat4x4 (64 bytes), size vec2 (8), inv_bound f32 (4), palette u32 (4). */
const VIEW_BYTES = 80;

export class WebGPUHeatmaps {
  private readonly module: GPUShaderModule;
  private readonly layout: GPUBindGroupLayout;
  private readonly pipelines = new Map<GPUTextureFormat, GPURenderPipeline>();
  private readonly contexts = new WeakMap<object, GPUCanvasContext>();

  constructor(
    readonly device: GPUDevice,
    private readonly canvasFormat: GPUTextureFormat,
  ) {
    this.module = device.createShaderModule({ label: 'smoothgeo heatmap shader', code: source });
    this.layout = device.createBindGroupLayout({
      label: 'smoothgeo heatmap bind group layout',
      entries: [
        { binding: 0, visibility: STAGE_VERTEX | STAGE_FRAGMENT, buffer: { type: 'uniform' } },
        { binding: 1, visibility: STAGE_FRAGMENT, texture: { sampleType: 'unfilterable-float' } },
      ],
    });
  }

  private pipeline(format: GPUTextureFormat): GPURenderPipeline {
    let p = this.pipelines.get(format);
    if (!p) {
      p = this.device.createRenderPipeline({
        label: `smoothgeo heatmap pipeline (${format})`,
        layout: this.device.createPipelineLayout({
          label: 'smoothgeo heatmap pipeline layout',
          bindGroupLayouts: [this.layout],
        }),
        vertex: { module: this.module, entryPoint: 'vs' },
        fragment: { module: this.module, entryPoint: 'fs', targets: [{ format }] },
        primitive: { topology: 'triangle-list' },
      });
      this.pipelines.set(format, p);
    }
    return p;
  }

  /**
   * Records the draw of `plane` into `target` (cleared to black first) on `encoder`. Returns the map texture
   * and uniform buffer to destroy once the encoder is submitted.
   */
  record(
    encoder: GPUCommandEncoder,
    target: GPUTextureView,
    format: GPUTextureFormat,
    plane: HeatmapPlane,
    view: ViewMatrices,
  ): (GPUBuffer | GPUTexture)[] {
    const { device } = this;
    const texture = device.createTexture({
      label: `smoothgeo heatmap map ${plane.height}x${plane.width}`,
      size: [plane.width, plane.height],
      format: 'r32float',
      usage: TEXTURE_BINDING | TEXTURE_COPY_DST,
    });
    device.queue.writeTexture({ texture }, plane.values, { bytesPerRow: plane.width * 4 }, [plane.width, plane.height]);
    const uniform = new ArrayBuffer(VIEW_BYTES);
    new Float32Array(uniform, 0, 16).set(view.toClip);
    new Float32Array(uniform, 64, 3).set([plane.width, plane.height, 1 / plane.bound]);
    new Uint32Array(uniform, 76, 1)[0] = plane.palette === 'diverging' ? 1 : 0;
    const buffer = device.createBuffer({
      label: 'smoothgeo heatmap view uniform',
      size: VIEW_BYTES,
      usage: BUFFER_UNIFORM | BUFFER_COPY_DST,
    });
    device.queue.writeBuffer(buffer, 0, uniform);
    const bindGroup = device.createBindGroup({
      label: 'smoothgeo heatmap bind group',
      layout: this.layout,
      entries: [
        { binding: 0, resource: { buffer } },
        { binding: 1, resource: texture.createView({ label: 'smoothgeo heatmap map view' }) },
      ],
    });
    const pass = encoder.beginRenderPass({
      label: 'smoothgeo heatmap pass',
      colorAttachments: [{ view: target, loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }],
    });
    pass.setPipeline(this.pipeline(format));
    pass.setBindGroup(0, bindGroup);
    pass.draw(6);
    pass.end();
    return [buffer, texture];
  }

  /** Draws into a canvas (configured for this device on first use); GPU errors reject with GPU_ERROR. */
  async drawCanvas(
    canvas: HTMLCanvasElement | OffscreenCanvas,
    plane: HeatmapPlane,
    view: ViewMatrices,
  ): Promise<void> {
    let context = this.contexts.get(canvas);
    if (!context) {
      const c = canvas.getContext('webgpu');
      if (!c)
        fail(
          'INVALID_ARGUMENT',
          'drawHeatmap: this canvas has no WebGPU context (it already has a 2D or WebGL one: use a fresh canvas per renderer)',
        );
      // 'opaque': the heatmap covers the canvas; the browser composites it without blending.
      c.configure({ device: this.device, format: this.canvasFormat, alphaMode: 'opaque' });
      this.contexts.set(canvas, c);
      context = c;
    }
    const texture = context.getCurrentTexture();
    await this.submit((encoder) =>
      this.record(encoder, texture.createView({ label: 'smoothgeo heatmap canvas view' }), texture.format, plane, view),
    );
  }

  /** Records with `fn`, submits, destroys what `fn` returned, and turns a validation error into a SmoothgeoError. */
  async submit(fn: (encoder: GPUCommandEncoder) => (GPUBuffer | GPUTexture)[]): Promise<void> {
    const { device } = this;
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: 'smoothgeo heatmap encoder' });
    const owned = fn(encoder);
    device.queue.submit([encoder.finish()]);
    // Destroyed once the submitted work that uses them completes.
    for (const o of owned) o.destroy();
    const error = await device.popErrorScope();
    if (error) fail('GPU_ERROR', `drawHeatmap: the heatmap render pass failed: ${error.message}`);
  }
}
