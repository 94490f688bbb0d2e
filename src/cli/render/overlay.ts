import { encode } from 'fast-png';
import { sequential } from '../../io/png.js';
import { drawText, GLYPH_HEIGHT, textWidth } from './glyphs.js';

export interface OverlayImage {
  /** The input image [H·W] in [0, 1] (grey), drawn underneath. */
  input: ArrayLike<number>;
  /** The attribution map [H·W], non-negative (the paper's post-processed map). */
  map: ArrayLike<number>;
  height: number;
  width: number;
  /** Pixels per map cell. */
  scale: number;
}

const LEGEND_GAP = 8;
const BAR_WIDTH = 14;
const FONT = 2;

/**
 * The map over its input as an RGBA PNG, with a colour-bar legend on the right labelled with the map's
 * range. Each pixel blends the grey input with the 'hot' colour of the map value, with the map's own
 * weight as opacity (t = value / max), so that zero attribution shows the digit and strong attribution
 * hides it; the legend's numbers are the values that the bar's colours stand for.
 */
export function overlayPng(o: OverlayImage): Uint8Array {
  const { height: h, width: w, scale: s } = o;
  let max = 0;
  for (let i = 0; i < h * w; i++) max = Math.max(max, o.map[i]);
  const top = formatNumber(max),
    bottom = formatNumber(0);
  const imgW = w * s,
    imgH = h * s;
  const labelW = Math.max(textWidth(top, FONT), textWidth(bottom, FONT));
  const W = imgW + LEGEND_GAP + BAR_WIDTH + 4 + labelW + 4;
  const H = imgH;
  const rgba = new Uint8Array(W * H * 4).fill(255);
  for (let y = 0; y < imgH; y++) {
    for (let x = 0; x < imgW; x++) {
      const i = Math.floor(y / s) * w + Math.floor(x / s);
      const grey = 255 * Math.min(1, Math.max(0, o.input[i]));
      const t = max > 0 ? o.map[i] / max : 0;
      const [r, g, b] = sequential(t);
      const a = Math.sqrt(t); // faint attribution stays visible over the digit
      rgba.set([mix(grey, r, a), mix(grey, g, a), mix(grey, b, a), 255], (y * W + x) * 4);
    }
  }
  // The bar: max at the top, 0 at the bottom, inside a black frame.
  const bx = imgW + LEGEND_GAP;
  for (let y = 0; y < H; y++) {
    const [r, g, b] = sequential(1 - y / Math.max(1, H - 1));
    for (let x = 0; x < BAR_WIDTH; x++) {
      const frame = x === 0 || x === BAR_WIDTH - 1 || y === 0 || y === H - 1;
      rgba.set(frame ? [0, 0, 0, 255] : [r, g, b, 255], (y * W + bx + x) * 4);
    }
  }
  const lx = bx + BAR_WIDTH + 4;
  drawText(rgba, W, top, lx, 1, FONT, [0, 0, 0]);
  drawText(rgba, W, bottom, lx, H - GLYPH_HEIGHT * FONT - 1, FONT, [0, 0, 0]);
  return encode({ width: W, height: H, data: rgba, channels: 4, depth: 8 });
}

function mix(a: number, b: number, t: number): number {
  return Math.round(a * (1 - t) + b * t);
}

/** Three significant digits, in the font's characters (no letters but the exponent's e). */
export function formatNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-2 && a < 1e4 ? String(Number(v.toPrecision(3))) : v.toExponential(2);
}
