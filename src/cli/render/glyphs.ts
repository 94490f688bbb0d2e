/**
 * A 3×5 bitmap font for the numbers of a legend (digits, sign, point, exponent): the CLI writes PNGs with
 * fast-png and has no text renderer, and a legend without its numbers would not say what the colours mean.
 * Each glyph is five rows of three bits, most significant bit on the left.
 */
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7],
  '1': [2, 6, 2, 2, 7],
  '2': [7, 1, 7, 4, 7],
  '3': [7, 1, 7, 1, 7],
  '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7],
  '6': [7, 4, 7, 5, 7],
  '7': [7, 1, 1, 1, 1],
  '8': [7, 5, 7, 5, 7],
  '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2],
  '-': [0, 0, 7, 0, 0],
  '+': [0, 2, 7, 2, 0],
  e: [0, 7, 5, 6, 7],
  ' ': [0, 0, 0, 0, 0],
};

export const GLYPH_WIDTH = 3;
export const GLYPH_HEIGHT = 5;

/** Draws `text` into an RGBA image at (x, y), each font pixel a `size`×`size` block; unknown characters are refused. */
export function drawText(
  rgba: Uint8Array,
  width: number,
  text: string,
  x: number,
  y: number,
  size: number,
  colour: [number, number, number],
): void {
  [...text].forEach((ch, i) => {
    const rows = GLYPHS[ch];
    if (!rows) throw new Error(`drawText: no glyph for '${ch}'`);
    const x0 = x + i * (GLYPH_WIDTH + 1) * size;
    rows.forEach((bits, r) => {
      for (let c = 0; c < GLYPH_WIDTH; c++) {
        if (!((bits >> (GLYPH_WIDTH - 1 - c)) & 1)) continue;
        for (let dy = 0; dy < size; dy++)
          for (let dx = 0; dx < size; dx++) {
            const p = ((y + r * size + dy) * width + x0 + c * size + dx) * 4;
            if (p >= 0 && p + 3 < rgba.length) rgba.set([...colour, 255], p);
          }
      }
    });
  });
}

/** Width in pixels of `text` drawn at `size`. */
export function textWidth(text: string, size: number): number {
  return text.length * (GLYPH_WIDTH + 1) * size - size;
}
