/**
 * Metric catalogue: what each modality reports, in which unit, and which values are physically
 * possible. It is data, not code paths: collectors validate against it, simulators produce it,
 * rule packs and the console label with it. Normal ranges follow docs/architecture.md §metrics
 * and are defaults only — rule packs decide what raises an alert.
 */
export const MODALITIES = ['CT', 'MR'] as const;
export type Modality = (typeof MODALITIES)[number];

export type MetricKind = 'gauge' | 'counter' | 'state';

export interface MetricDefinition {
  readonly name: string;
  readonly modality: Modality;
  readonly kind: MetricKind;
  readonly unit: string;
  readonly zh: string;
  readonly en: string;
  /** Values outside [min, max] cannot come from a working sensor and are rejected. */
  readonly min: number;
  readonly max: number;
  /** Typical operating band, for display and simulator defaults. */
  readonly normal?: readonly [number, number];
}

type Def = Omit<MetricDefinition, 'modality'>;

const MR: Def[] = [
  { name: 'helium_level_pct', kind: 'gauge', unit: '%', zh: '液氦液位', en: 'Helium level', min: 0, max: 110, normal: [70, 95] },
  { name: 'helium_pressure_psi', kind: 'gauge', unit: 'psig', zh: '氦气压力', en: 'Helium vessel pressure', min: -15, max: 50, normal: [1, 3.5] },
  { name: 'cold_head_temp_k', kind: 'gauge', unit: 'K', zh: '冷头二级温度', en: 'Cold head 2nd stage temperature', min: 0, max: 320, normal: [3.9, 4.5] },
  { name: 'shield_temp_k', kind: 'gauge', unit: 'K', zh: '冷屏温度', en: 'Thermal shield temperature', min: 0, max: 320, normal: [35, 45] },
  { name: 'heater_power_w', kind: 'gauge', unit: 'W', zh: '加热器功率', en: 'Heater power', min: 0, max: 100, normal: [0.5, 6] },
  { name: 'compressor_running', kind: 'state', unit: '', zh: '压缩机运行', en: 'Compressor running', min: 0, max: 1, normal: [1, 1] },
  { name: 'compressor_supply_psi', kind: 'gauge', unit: 'psig', zh: '压缩机供气压力', en: 'Compressor supply pressure', min: 0, max: 500, normal: [270, 300] },
  { name: 'chilled_water_temp_c', kind: 'gauge', unit: '°C', zh: '冷水温度', en: 'Chilled water temperature', min: -5, max: 80, normal: [10, 15] },
  { name: 'chilled_water_flow_lpm', kind: 'gauge', unit: 'L/min', zh: '冷水流量', en: 'Chilled water flow', min: 0, max: 200, normal: [12, 20] },
  { name: 'magnet_room_temp_c', kind: 'gauge', unit: '°C', zh: '磁体间温度', en: 'Magnet room temperature', min: -20, max: 60, normal: [15, 21] },
  { name: 'magnet_room_humidity_pct', kind: 'gauge', unit: '%', zh: '磁体间湿度', en: 'Magnet room humidity', min: 0, max: 100, normal: [30, 60] },
  { name: 'gradient_coil_temp_c', kind: 'gauge', unit: '°C', zh: '梯度线圈温度', en: 'Gradient coil temperature', min: -20, max: 150, normal: [18, 35] },
];

const CT: Def[] = [
  { name: 'tube_heat_pct', kind: 'gauge', unit: '%', zh: '球管热容量', en: 'Tube anode heat', min: 0, max: 110, normal: [0, 85] },
  { name: 'tube_housing_temp_c', kind: 'gauge', unit: '°C', zh: '球管管套温度', en: 'Tube housing temperature', min: -20, max: 150, normal: [25, 60] },
  { name: 'tube_arc_count', kind: 'counter', unit: 'count', zh: '球管打火次数', en: 'Tube arcs', min: 0, max: 100_000 },
  { name: 'filament_current_a', kind: 'gauge', unit: 'A', zh: '灯丝电流', en: 'Filament current', min: 0, max: 15, normal: [3, 6] },
  { name: 'gantry_temp_c', kind: 'gauge', unit: '°C', zh: '机架温度', en: 'Gantry temperature', min: -20, max: 90, normal: [18, 30] },
  { name: 'detector_temp_c', kind: 'gauge', unit: '°C', zh: '探测器温度', en: 'Detector temperature', min: -20, max: 90, normal: [33, 37] },
  { name: 'room_temp_c', kind: 'gauge', unit: '°C', zh: '扫描间温度', en: 'Scan room temperature', min: -20, max: 60, normal: [18, 24] },
  { name: 'room_humidity_pct', kind: 'gauge', unit: '%', zh: '扫描间湿度', en: 'Scan room humidity', min: 0, max: 100, normal: [30, 70] },
  { name: 'exams_count', kind: 'counter', unit: 'count', zh: '检查次数', en: 'Exams', min: 0, max: 10_000 },
  { name: 'scan_seconds', kind: 'counter', unit: 's', zh: '曝光时间', en: 'Scan seconds', min: 0, max: 86_400 },
  { name: 'tube_mas', kind: 'counter', unit: 'mAs', zh: '球管 mAs', en: 'Tube mAs', min: 0, max: 10_000_000 },
];

export const METRIC_CATALOGUE: Readonly<Record<Modality, readonly MetricDefinition[]>> = {
  MR: MR.map((d) => ({ ...d, modality: 'MR' as const })),
  CT: CT.map((d) => ({ ...d, modality: 'CT' as const })),
};

const byModality = new Map<Modality, Map<string, MetricDefinition>>(
  MODALITIES.map((m) => [m, new Map(METRIC_CATALOGUE[m].map((d) => [d.name, d]))]),
);

export function metricDefinition(modality: Modality, name: string): MetricDefinition | undefined {
  return byModality.get(modality)?.get(name);
}

/** snake_case with a unit suffix, as in the MQTT contract. */
export const METRIC_NAME_PATTERN = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
export const METRIC_NAME_MAX_LENGTH = 64;

/**
 * Guess a device's modality from the metric names it sends (auto-registration): the modality
 * whose catalogue knows most of the names, or undefined when none knows any.
 */
export function inferModality(metricNames: Iterable<string>): Modality | undefined {
  let best: Modality | undefined;
  let bestHits = 0;
  const names = [...metricNames];
  for (const m of MODALITIES) {
    const hits = names.filter((n) => byModality.get(m)?.has(n)).length;
    if (hits > bestHits) {
      best = m;
      bestHits = hits;
    }
  }
  return best;
}
