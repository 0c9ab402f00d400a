// Diffusion: beta schedules, the forward process, parameterisations and losses, samplers
// (DDPM, DDIM, PLMS, DPM-Solver++(2M)) and classifier-free guidance. Pure math over a
// denoise(x, t) function: nothing here knows a model class.
export {
  DiffusionSchedule,
  makeBetaSchedule,
  SCHEDULE_DEFAULTS,
  type BetaScheduleName,
  type ScheduleOptions,
} from './schedule.js';
export {
  qSample,
  trainingTarget,
  predictEpsAndX0,
  sampleTimesteps,
  diffusionLoss,
  PARAMETERIZATIONS,
  type Parameterization,
  type LossType,
} from './forward.js';
export {
  ddimTimesteps,
  samplingPlan,
  linearCombination,
  DEFAULT_SAMPLING_STEPS,
  type DenoiseFn,
  type SamplerStep,
  type SamplerCallback,
  type PredictionOptions,
  type SamplingPlan,
} from './sampler-common.js';
export { guidedDenoiser, type ConditionalModel } from './guidance.js';
export { sampleDDPM, ddpmStep, type DDPMOptions } from './ddpm.js';
export { sampleDDIM, ddimStep, ddimSigma, type DDIMOptions } from './ddim.js';
export { samplePLMS, plmsEps, PLMS_COEFFICIENTS, type PLMSOptions } from './plms.js';
export { sampleDPMSolverPP2M, dpmSolverPPStep, halfLogSNR, type DPMSolverOptions } from './dpm-solver.js';
export { sample, SAMPLER_NAMES, type SamplerName, type SampleOptions } from './sample.js';
