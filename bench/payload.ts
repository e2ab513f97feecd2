/**
 * The ingest benchmark's telemetry: seven metrics per message, as a CT or an MR scanner would
 * report them, varying with the message number so that rules see changing values (the CT's tube
 * heat saws from 0 to 99 %, crossing its level every hundred messages). Healthy otherwise, so
 * what is measured is evaluation, not alert storms.
 */
export type BenchModality = 'CT' | 'MR';

export const METRICS_PER_MESSAGE = 7;

/** The metric whose stored count tells how many messages were stored (every message carries it). */
export const COUNTED_METRIC: Record<BenchModality, string> = { CT: 'gantry_temp_c', MR: 'helium_level_pct' };

export function benchMetrics(modality: BenchModality, n: number): Record<string, number> {
  if (modality === 'MR') {
    return {
      helium_level_pct: 80 + (n % 10) / 10,
      helium_pressure_psi: 2 + (n % 5) / 100,
      cold_head_temp_k: 4.2 + (n % 3) / 100,
      shield_temp_k: 40 + (n % 7) / 10,
      compressor_running: 1,
      chilled_water_temp_c: 12 + (n % 4) / 10,
      magnet_room_temp_c: 19 + (n % 6) / 10,
    };
  }
  return {
    gantry_temp_c: 22 + (n % 50) / 10,
    detector_temp_c: 35 + (n % 7) / 10,
    tube_heat_pct: n % 100,
    tube_housing_temp_c: 40 + (n % 20),
    filament_current_a: 4.2,
    room_temp_c: 21.5,
    room_humidity_pct: 45,
  };
}

export const benchDeviceId = (modality: BenchModality, i: number): string => `BENCH-${modality}-${i}`;
