/**
 * The ingest benchmark's telemetry: seven metrics per message, as a CT or an MR scanner would
 * report them, varying with each device's own message count `k` so that rules see changing values
 * (the CT's tube heat saws from 0 to 99 %, crossing its level every hundred messages of a device).
 * Healthy otherwise, so what is measured is evaluation, not alert storms.
 */
export type BenchModality = 'CT' | 'MR';

export const METRICS_PER_MESSAGE = 7;

/** The metric whose stored count tells how many messages were stored (every message carries it). */
export const COUNTED_METRIC: Record<BenchModality, string> = { CT: 'gantry_temp_c', MR: 'helium_level_pct' };

export function benchMetrics(modality: BenchModality, k: number): Record<string, number> {
  if (modality === 'MR') {
    return {
      helium_level_pct: 80 + (k % 10) / 10,
      helium_pressure_psi: 2 + (k % 5) / 100,
      cold_head_temp_k: 4.2 + (k % 3) / 100,
      shield_temp_k: 40 + (k % 7) / 10,
      compressor_running: 1,
      chilled_water_temp_c: 12 + (k % 4) / 10,
      magnet_room_temp_c: 19 + (k % 6) / 10,
    };
  }
  return {
    gantry_temp_c: 22 + (k % 50) / 10,
    detector_temp_c: 35 + (k % 7) / 10,
    tube_heat_pct: k % 100,
    tube_housing_temp_c: 40 + (k % 20),
    filament_current_a: 4.2,
    room_temp_c: 21.5,
    room_humidity_pct: 45,
  };
}

export const benchDeviceId = (modality: BenchModality, i: number): string => `BENCH-${modality}-${i}`;

/**
 * The `n`-th message of a run goes to device `n % devices`; its values follow that device's own
 * count of messages, offset by the device number so that devices are not in step.
 */
export function benchMessage(modality: BenchModality, n: number, devices: number): { device: number; metrics: Record<string, number> } {
  const device = n % devices;
  return { device, metrics: benchMetrics(modality, Math.floor(n / devices) + device) };
}
