/**
 * sealq/bullmq: signed, replay-proof BullMQ jobs. bullmq (and ioredis for the Redis replay store)
 * are optional peer dependencies of sealq, needed only here.
 */
export { sealJobData, sealJobDataAsync, DEFAULT_GRACE_MS, DEFAULT_SCHEDULER_VALIDITY_MS, JOB_CONTENT_TYPE, PER_RUN_ID_PREFIX } from './seal-job.js';
export type { SealedJobData, SealJobDataOptions, JobSealSettings } from './seal-job.js';
export { sealedQueue } from './queue.js';
export type { SealedQueue, SealedQueueOptions } from './queue.js';
export { sealFlow, sealedFlowProducer } from './flow.js';
export type { PlainFlowJob, PlainFlowChildJob, SealedFlowProducer } from './flow.js';
export { sealedProcessor, sealedSandbox, failedCode, DEFAULT_JOB_LEASE_MS, DEFAULT_IN_FLIGHT_DELAY_MS, DEFAULT_PER_RUN_RETAIN_MS } from './processor.js';
export type { SealedJob, JobSeal, JobLike, SealedProcessorFn, SealedProcessorOptions, ReplayKeyMode } from './processor.js';
export { resealJob } from './reseal.js';
