// WGSL sources are imported as text (esbuild loader `text`, a vite plugin in vitest.config.ts).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
