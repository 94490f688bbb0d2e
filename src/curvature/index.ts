// Curvature on top of the model's Hessian-vector products: operators, eigenvalues, trace, spectral density.

export {
  inputHessianOperator,
  gaussNewtonOperator,
  paramHessianOperator,
  flattenParams,
  unflattenParams,
  type CurvatureOperator,
} from './operators.js';
export type { SpaceOptions } from './options.js';
export { hessianEigen, type HessianEigenOptions, type HessianEigenResult, type EigenWhich } from './eigen.js';
export { hessianTrace, type HessianTraceOptions, type HessianTraceResult } from './trace.js';
export {
  hessianDensity,
  densityPlotPng,
  type HessianDensityOptions,
  type HessianDensityResult,
  type SpectralDensity,
  type DensityPlotOptions,
} from './density.js';
export { softplusSurrogate, warnIfZero } from './surrogate.js';
