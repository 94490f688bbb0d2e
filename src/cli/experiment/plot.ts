import { encode } from 'fast-png';

export interface Series {
  values: number[]; // one per x
  color: [number, number, number];
}

/**
 * A small line chart as PNG: series over shared x positions, y in [0, 1], a light grid at every 0.1 and at
 * each x. No text (the Markdown report names the axes and gives each colour its series).
 */
export function linePlotPng(xs: number[], series: Series[], width = 480, height = 320): Uint8Array {
  const rgba = new Uint8Array(width * height * 4).fill(255);
  const pad = 24;
  const xmin = Math.min(...xs),
    xmax = Math.max(...xs);
  const px = (x: number) => pad + ((x - xmin) / Math.max(1e-12, xmax - xmin)) * (width - 2 * pad);
  const py = (y: number) => height - pad - Math.min(1, Math.max(0, y)) * (height - 2 * pad);
  const set = (x: number, y: number, c: [number, number, number]) => {
    const xi = Math.round(x),
      yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= width || yi >= height) return;
    rgba.set([c[0], c[1], c[2], 255], (yi * width + xi) * 4);
  };
  const line = (x0: number, y0: number, x1: number, y1: number, c: [number, number, number], thick = 1) => {
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n,
        y = y0 + ((y1 - y0) * i) / n;
      for (let dx = -thick + 1; dx < thick; dx++) for (let dy = -thick + 1; dy < thick; dy++) set(x + dx, y + dy, c);
    }
  };
  const grid: [number, number, number] = [225, 225, 225],
    axis: [number, number, number] = [90, 90, 90];
  for (let g = 0; g <= 10; g++) line(pad, py(g / 10), width - pad, py(g / 10), grid);
  for (const x of xs) line(px(x), py(0), px(x), py(1), grid);
  line(pad, py(0), width - pad, py(0), axis);
  line(pad, py(0), pad, py(1), axis);
  for (const s of series) {
    for (let i = 1; i < xs.length; i++)
      line(px(xs[i - 1]), py(s.values[i - 1]), px(xs[i]), py(s.values[i]), s.color, 2);
    for (let i = 0; i < xs.length; i++)
      for (let dx = -3; dx <= 3; dx++)
        for (let dy = -3; dy <= 3; dy++) set(px(xs[i]) + dx, py(s.values[i]) + dy, s.color);
  }
  return encode({ width, height, data: rgba, channels: 4, depth: 8 });
}
