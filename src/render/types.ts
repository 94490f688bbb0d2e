// The heatmap renderers' public types, apart from the modules that use wgpu-matrix: the declarations a
// consumer's compiler reads then do not reach into wgpu-matrix's own (which nodenext resolution rejects).

export interface HeatmapView {
  /** Magnification about `center` (1: the whole map fits the canvas). Default 1. */
  zoom?: number;
  /** The map point (x, y in cells) that stays put when zooming. Default: the map's centre. */
  center?: [number, number];
}

/** Column-major 4×4 matrices (wgpu-matrix's layout). */
export interface ViewMatrices {
  /** Map cells (x right, y down) → canvas pixels. */
  toCanvas: Float32Array;
  /** Map cells → WebGPU clip space (x right, y up, z 0). */
  toClip: Float32Array;
}
