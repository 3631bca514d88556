/**
 * sealq/prometheus: sealq's metrics on a prom-client registry (prom-client 15 is an optional
 * peer dependency). See docs/operations.md for the metrics, alerts and dashboard.
 */
export { registerMetrics, DEFAULT_VERIFY_BUCKETS, OTHER } from './metrics.js';
export type { SealqMetrics, SealqMetricsOptions } from './metrics.js';
