// Robustness metrics of attribution maps (Wang et al. 2020; Captum; Quantus), vectorised over a batch.

export { topKIntersection, kendallTau, spearman } from './rank.js';
export { centerOfMass, centerOfMassDislocation, cosineDistance } from './maps.js';
export {
  sensitivityMax,
  averageSensitivity,
  localLipschitzEstimate,
  type ExplainFn,
  type PerturbationMetricResult,
  type SensitivityMaxOptions,
  type AverageSensitivityOptions,
  type LocalLipschitzOptions,
} from './sensitivity.js';
