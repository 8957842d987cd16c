export { IntentPipeline, type PipelineDeps, type PipelineObserver, type ExecuteOptions, type DaemonLimits } from './pipeline.js';
export { defaultPolicy, type PolicyHook, type PolicyInput, type PolicyDecision } from './policy.js';
export { zodError } from './zod-error.js';
