// smoothgeo — robust gradient attribution on WebGPU. The public API; everything else is internal.

export { createEngine, Engine, type EngineOptions, type DumpShaders } from './engine.js';
export type { KernelTiming, MemoryUsage, Profile } from './backend/backend.js';
export type { AdapterSummary } from './backend/webgpu/device.js';
export type { BackendName } from './backend/backend.js';
export { loadModel, Model, type LoadOptions, type ParamRecord } from './graph/model.js';
export type { ModelSpec } from './graph/spec.js';
export type { Objective } from './graph/objective.js';
export { parseSafetensors, encodeSafetensors, type SafetensorsOptions } from './io/safetensors.js';
export { SmoothgeoError, type ErrorCode } from './errors.js';
export { LIMITS, type LimitName } from './limits.js';
export { tensor, type Tensor } from './tensor.js';
export { heatmapPng, type HeatmapOptions } from './io/png.js';
export {
  saliency,
  inputXGradient,
  smoothGrad,
  smoothGradSquared,
  varGrad,
  uniformGradient,
  integratedGradients,
  noiseTunnel,
  attributionMap,
  type TargetOptions,
  type SamplingOptions,
  type GaussianNoise,
  type UniformNoise,
  type AttributionResult,
  type IntegratedGradientsOptions,
  type IntegratedGradientsResult,
  type NoiseTunnelOptions,
} from './attribution/methods.js';
export { quadrature, type QuadratureRule } from './attribution/quadrature.js';
export * from './metrics/index.js';
export {
  attackExplanation,
  type ExplanationAttack,
  type ExplanationAttackOptions,
  type ExplanationAttackResult,
  type ExplanationAttackProgress,
  type ExplanationAttackSnapshot,
} from './attack/explanation-attack.js';
export type { ExplainSpec, ExplainMethod } from './attack/explain.js';
export { pgd, fgsm, type PgdOptions, type PgdResult } from './attack/pgd.js';
export { robustAccuracy, type RobustAccuracyOptions, type RobustAccuracyResult } from './attack/robust.js';
export * from './curvature/index.js';
export { loadOnnx, onnxToSpec, SUPPORTED_ONNX_OPS, type OnnxOptions } from './io/onnx.js';
export { ssrCurvature, type SsrCurvatureOptions, type SsrCurvatureResult } from './train/ssr.js';
export { train, type TrainOptions, type TrainResult, type EpochRecord, type Regularizer } from './train/train.js';
export type { OptimizerOptions, ScheduleOptions } from './train/optim.js';
export { initModel } from './train/init.js';
export { saveModel } from './train/save.js';
export { evaluateAccuracy } from './train/evaluate.js';
export { loadMnist, subset, type Dataset, type MnistOptions } from './data/mnist.js';
export {
  createHeatmapRenderer,
  type HeatmapRenderer,
  type HeatmapRendererOptions,
  type DrawHeatmapOptions,
  type HeatmapPalette,
  type HeatmapView,
} from './render/heatmap.js';
