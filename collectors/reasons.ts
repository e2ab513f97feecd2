/**
 * Why a message (or part of it) was rejected. Each reason is counted in /metrics and kept with
 * the dead letter, so a device integrator can see what to fix.
 */
export const REJECT_REASONS = {
  bad_topic: 'topic is outside guardian/{site}/{device}/{telemetry|event|status}',
  payload_too_large: 'payload is larger than the configured limit',
  invalid_json: 'payload is not valid JSON (UTF-8)',
  not_an_object: 'payload is JSON but not an object',
  invalid_schema: 'payload does not have the contract shape',
  device_mismatch: 'deviceId in the payload differs from the device in the topic',
  site_mismatch: 'device is registered at another site than the topic names',
  unknown_device: 'device is not registered (and could not be registered automatically)',
  missing_ts: 'sample has no ts',
  invalid_ts: 'ts is neither epoch milliseconds nor an ISO-8601 time',
  ts_in_future: 'ts is further in the future than the clock-skew tolerance',
  ts_too_old: 'ts is older than the raw-data retention',
  too_many_samples: 'samples batch is longer than the configured limit',
  too_many_metrics: 'sample has more metrics than the configured limit',
  invalid_metric_name: 'metric name is not snake_case with a unit suffix',
  unknown_metric: "metric is not in the device's metric catalogue",
  non_finite_value: 'metric value is not a finite number',
  value_out_of_range: 'metric value is physically impossible for this metric',
  empty_sample: 'sample carries no metrics',
  internal_error: 'the collector failed on this message; the payload is kept for a bug report',
} as const;

export type RejectReason = keyof typeof REJECT_REASONS;

export interface Rejection {
  readonly reason: RejectReason;
  readonly detail: string;
  /** How many samples or metrics of the message this rejection covers. */
  readonly count: number;
}
