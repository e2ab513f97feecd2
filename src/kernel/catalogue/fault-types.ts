/**
 * Fault types of the tender's classification (故障类型), which set repair targets (tube 24 h,
 * detector 48 h, workstation software 12 h). A rule may name its fault type; otherwise it is
 * inferred from the metric the rule watches.
 */
export const FAULT_TYPES = ['tube', 'detector', 'software', 'cryogenics', 'cooling', 'environment', 'power', 'other'] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

export const FAULT_TYPE_LABELS: Readonly<Record<FaultType, { zh: string; en: string }>> = {
  tube: { zh: '球管', en: 'X-ray tube' },
  detector: { zh: '探测器', en: 'detector' },
  software: { zh: '工作站软件', en: 'workstation software' },
  cryogenics: { zh: '磁体与制冷（液氦、冷头、压缩机）', en: 'magnet cryogenics' },
  cooling: { zh: '冷却系统', en: 'cooling' },
  environment: { zh: '机房环境', en: 'room environment' },
  power: { zh: '供电', en: 'power' },
  other: { zh: '其他', en: 'other' },
};

const BY_PREFIX: ReadonlyArray<readonly [string, FaultType]> = [
  ['tube_', 'tube'],
  ['filament_', 'tube'],
  ['detector_', 'detector'],
  ['helium_', 'cryogenics'],
  ['cold_head_', 'cryogenics'],
  ['shield_', 'cryogenics'],
  ['heater_', 'cryogenics'],
  ['compressor_', 'cryogenics'],
  ['chilled_water_', 'cooling'],
  ['gantry_', 'cooling'],
  ['gradient_coil_', 'cooling'],
  ['magnet_room_', 'environment'],
  ['room_', 'environment'],
];

export function faultTypeOfMetric(metric: string | undefined): FaultType {
  if (!metric) return 'other';
  return BY_PREFIX.find(([prefix]) => metric.startsWith(prefix))?.[1] ?? 'other';
}
