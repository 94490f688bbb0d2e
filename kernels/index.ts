// The one wasm module of the wasm backend (src/backend/wasm): every export takes byte offsets into the
// imported memory and sizes, and never allocates. Built by build.mjs with AssemblyScript (SIMD128).
export { gemm, gemmWorkspaceBytes, gemmPack, gemmPanel } from './gemm';
export {
  conv2dForward,
  conv2dBackwardInput,
  conv2dBackwardFilter,
  conv2dBackwardFilterSum,
  convWorkspaceBytes,
  convFilterWorkspaceBytes,
} from './conv2d';
export { maxPool, gather, scatterAdd, avgPool, avgPoolBackward } from './pool';
export { activation, activationBackward, activationTangent, checkFinite } from './pointwise';
export { add, copyBlocks, batchNormCoefficients, batchNorm, batchNormBackward, batchNormWeightGrad } from './graph';
export { broadcastBinary, sumTo } from './broadcast';
export { sgd, adam, ssrSeeds, gatherRows, scatterRows, normalizeRows, pgdStep, accumulateMetrics } from './train';
export { head } from './loss';
export { philoxWords, sampleInputs, ballFactors } from './philox';
export { channelSum, sampleReduce } from './reduce';

/** Where the module's static data ends: the TypeScript arena starts above it. */
export const HEAP_BASE: usize = __heap_base;
