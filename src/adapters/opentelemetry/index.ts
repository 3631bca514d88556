/**
 * sealq/opentelemetry: seals, opens, claims and dead letters on OpenTelemetry traces
 * (@opentelemetry/api is an optional peer dependency). See docs/operations.md.
 */
export { registerTracing } from './tracing.js';
export type { SealqTracing, SealqTracingOptions } from './tracing.js';
