import { describe, expect, it } from 'vitest';
import { eventsFor, readingAt } from '../../simulators/fleet.js';
import type { CtModel } from '../../simulators/models/ct.js';
import type { MrModel } from '../../simulators/models/mr.js';
import { SCENARIOS, scenarioNames } from '../../simulators/scenarios/index.js';
import {
  at,
  collect,
  DAY,
  EPOCH,
  HOUR,
  mean,
  MINUTE,
  series,
  shanghai,
  simulate,
  slope,
  sum,
  values,
  WEEK,
  within,
} from './helpers.js';

describe('scenario library', () => {
  it('registers every scenario by its exact name with zh and en descriptions', () => {
    expect([...scenarioNames].sort()).toEqual(
      [
        'healthy',
        'mr-cold-head-wear',
        'mr-compressor-stop',
        'mr-chiller-failure',
        'mr-quench',
        'ct-tube-end-of-life',
        'ct-cooling-failure',
        'sensor-stuck',
        'sensor-dropout',
        'sensor-spike',
      ].sort(),
    );
    for (const name of scenarioNames) {
      const s = SCENARIOS[name];
      expect(s?.name).toBe(name);
      expect(s?.description.zh).toMatch(/[\u4e00-\u9fff]/);
      expect(s?.description.en.length).toBeGreaterThan(10);
    }
  });

  it('reports ground truth with the resolved onset', () => {
    const sim = simulate('MR', 'mr-compressor-stop', '36h');
    expect(sim.groundTruth.onsetAt).toBe(EPOCH + 36 * HOUR);
    expect(simulate('CT', 'healthy', '0d').groundTruth.criticalAt).toBeNull();
  });
});

describe('mr-compressor-stop', () => {
  const sim = simulate('MR', 'mr-compressor-stop', '2d10h');
  const onset = sim.groundTruth.onsetAt;
  const critical = sim.groundTruth.criticalAt ?? NaN;
  const points = collect(sim, EPOCH, critical + 2 * DAY, 15 * MINUTE);
  const helium = series(points, 'helium_level_pct');

  it('stops the compressor at onset', () => {
    const running = series(points, 'compressor_running');
    expect(values(within(running, EPOCH, onset))).not.toContain(0);
    expect(new Set(values(within(running, onset, Infinity)))).toEqual(new Set([0]));
    expect(eventsFor(sim, onset - 1, onset).map((e) => e.code)).toEqual(['COMPRESSOR_TRIP']);
  });

  it('drops helium 2–4 %/day after onset; flat before', () => {
    const after = slope(within(helium, onset + DAY, onset + 8 * DAY), DAY);
    expect(after).toBeLessThan(-2);
    expect(after).toBeGreaterThan(-4);
    expect(Math.abs(slope(within(helium, EPOCH, onset), DAY))).toBeLessThan(0.3);
  });

  it('raises the pressure within hours, drops the heater, warms the shield 1–3 K/h then levels off', () => {
    const before = (m: string) => mean(values(within(series(points, m), onset - 6 * HOUR, onset)));
    const pressure = series(points, 'helium_pressure_psi');
    expect(mean(values(within(pressure, onset + 4 * HOUR, onset + 6 * HOUR))) - before('helium_pressure_psi')).toBeGreaterThan(1.5);
    expect(mean(values(within(series(points, 'heater_power_w'), onset + HOUR, onset + 3 * HOUR)))).toBeLessThan(0.05);
    const shield = series(points, 'shield_temp_k');
    const early = slope(within(shield, onset, onset + 3 * HOUR), HOUR);
    expect(early).toBeGreaterThan(1);
    expect(early).toBeLessThan(3);
    const late = slope(within(shield, onset + 3 * DAY, onset + 5 * DAY), HOUR);
    expect(Math.abs(late)).toBeLessThan(0.05);
    expect(Math.max(...values(shield))).toBeLessThan(60);
    const coldHead = series(points, 'cold_head_temp_k');
    expect(mean(values(within(coldHead, onset + 6 * HOUR, onset + 8 * HOUR)))).toBeGreaterThan(10);
  });

  it('criticalAt is when helium really falls below 50 %', () => {
    expect(critical - onset).toBeGreaterThan(5 * DAY);
    expect(critical - onset).toBeLessThan(20 * DAY);
    expect(mean(values(within(helium, critical - 12 * HOUR, critical)))).toBeGreaterThan(50);
    expect(mean(values(within(helium, critical, critical + 12 * HOUR)))).toBeLessThan(50);
  });
});

describe('mr-chiller-failure', () => {
  const sim = simulate('MR', 'mr-chiller-failure', '3d');
  const onset = sim.groundTruth.onsetAt;
  const points = collect(sim, onset - 2 * HOUR, onset + 6 * DAY, MINUTE);

  it('warms the chilled water ≥ 3 °C within 30 min and sags the flow', () => {
    const water = series(points, 'chilled_water_temp_c');
    const before = mean(values(within(water, onset - HOUR, onset)));
    expect(at(water, onset + 30 * MINUTE) - before).toBeGreaterThanOrEqual(3);
    expect(at(water, onset + 10 * MINUTE) - before).toBeGreaterThanOrEqual(3);
    const flow = series(points, 'chilled_water_flow_lpm');
    expect(at(flow, onset + 30 * MINUTE)).toBeLessThan(0.8 * mean(values(within(flow, onset - HOUR, onset))));
  });

  it('trips the compressor ~20 min after onset, which is the critical instant', () => {
    const trip = sim.groundTruth.criticalAt ?? NaN;
    expect(trip).toBe(onset + 20 * MINUTE);
    const running = series(points, 'compressor_running');
    expect(new Set(values(within(running, onset - HOUR, trip)))).toEqual(new Set([1]));
    expect(new Set(values(within(running, trip, Infinity)))).toEqual(new Set([0]));
    expect(eventsFor(sim, onset - 1, onset + HOUR).map((e) => [e.code, e.ts])).toEqual([
      ['CHILLED_WATER_HIGH', sim.groundTruth.milestones.waterAlarmAt],
      ['COMPRESSOR_TRIP', trip],
    ]);
  });

  it('then follows the compressor-stop pattern', () => {
    const helium = series(points, 'helium_level_pct');
    const s = slope(within(helium, onset + DAY, onset + 6 * DAY), DAY);
    expect(s).toBeLessThan(-2);
    expect(s).toBeGreaterThan(-4);
  });
});

describe('mr-quench', () => {
  const sim = simulate('MR', 'mr-quench', '2d');
  const onset = sim.groundTruth.onsetAt;

  it('collapses helium below 10 % within 5 minutes', () => {
    expect(readingAt(sim, onset + 5 * MINUTE, onset - 10 * MINUTE).helium_level_pct).toBeLessThan(10);
    const points = collect(sim, onset - HOUR, onset + 2 * HOUR, MINUTE);
    const helium = series(points, 'helium_level_pct');
    expect(values(within(helium, onset - HOUR, onset)).every((v) => v > 60)).toBe(true);
    expect(values(within(helium, onset + MINUTE, Infinity)).every((v) => v < 10 && v >= 0)).toBe(true);
  });

  it('spikes the pressure, then vents; cold head and shield warm fast', () => {
    const points = collect(sim, onset - 10 * MINUTE, onset + 2 * HOUR, 10_000);
    const pressure = series(points, 'helium_pressure_psi');
    expect(Math.max(...values(within(pressure, onset, onset + 2 * MINUTE)))).toBeGreaterThan(15);
    expect(at(pressure, onset + HOUR)).toBeLessThan(1);
    const coldHead = series(points, 'cold_head_temp_k');
    expect(at(coldHead, onset + HOUR)).toBeGreaterThan(20);
    const shield = series(points, 'shield_temp_k');
    expect(at(shield, onset + HOUR) - at(shield, onset - 10 * MINUTE)).toBeGreaterThan(15);
  });

  it('is critical at onset, announces itself and takes the scanner out of service', () => {
    expect(sim.groundTruth.criticalAt).toBe(onset);
    expect(eventsFor(sim, onset - MINUTE, onset).map((e) => e.code)).toEqual(['MAGNET_QUENCH']);
    expect(sim.instance.state?.(onset + HOUR, 'scanning')).toBe('service');
  });
});

describe('mr-cold-head-wear', () => {
  const sim = simulate('MR', 'mr-cold-head-wear', '1d', { seed: 11 });
  const onset = sim.groundTruth.onsetAt;
  const critical = sim.groundTruth.criticalAt ?? NaN;
  const points = collect(sim, EPOCH, critical + 3 * DAY, HOUR);
  const helium = series(points, 'helium_level_pct');

  it('reaches criticality 3–5 weeks after onset, when helium crosses 50 %', () => {
    expect(critical - onset).toBeGreaterThanOrEqual(3 * WEEK);
    expect(critical - onset).toBeLessThanOrEqual(5 * WEEK);
    expect(mean(values(within(helium, critical - DAY, critical)))).toBeGreaterThan(50);
    expect(mean(values(within(helium, critical, critical + DAY)))).toBeLessThan(50);
  });

  it('declines slowly, then faster', () => {
    const first = slope(within(helium, onset, onset + WEEK), DAY);
    const last = slope(within(helium, critical - WEEK, critical), DAY);
    expect(first).toBeLessThan(0);
    expect(first).toBeGreaterThan(-1);
    expect(last).toBeLessThan(3 * first);
  });

  it('heater power falls to 0 W and the shield warms 2–10 K (staying below 60 K)', () => {
    const heater = series(points, 'heater_power_w');
    expect(mean(values(within(heater, EPOCH, onset)))).toBeGreaterThan(2);
    expect(Math.max(...values(within(heater, critical - WEEK, critical)))).toBeLessThan(0.3);
    const shield = series(points, 'shield_temp_k');
    const rise = mean(values(within(shield, critical - DAY, critical))) - mean(values(within(shield, EPOCH, onset)));
    expect(rise).toBeGreaterThan(2);
    expect(rise).toBeLessThan(10);
    expect(Math.max(...values(within(shield, EPOCH, critical)))).toBeLessThan(60);
  });
});

describe('ct-tube-end-of-life', () => {
  const sim = simulate('CT', 'ct-tube-end-of-life', '-10d', { seed: 4 });
  const onset = sim.groundTruth.onsetAt;
  const critical = sim.groundTruth.criticalAt ?? NaN;
  const points = collect(sim, onset - WEEK, critical + 3 * DAY, 5 * MINUTE);
  const arcsPerExam = (from: number, to: number) => {
    const window = points.filter((p) => p.ts >= from && p.ts < to);
    return sum(window, 'tube_arc_count') / sum(window, 'exams_count');
  };

  it('is critical 6 weeks after onset', () => {
    expect(critical - onset).toBe(6 * WEEK);
  });

  it('arcs per exam rise exponentially: the last week ≫ the first week', () => {
    const first = arcsPerExam(onset, onset + WEEK);
    const last = arcsPerExam(critical - WEEK, critical);
    expect(first).toBeLessThan(1);
    expect(last).toBeGreaterThan(20 * Math.max(first, 0.1));
    // Exponential: each week multiplies the rate by roughly the same factor.
    const weekly = [2, 3, 4, 5].map((w) => arcsPerExam(onset + w * WEEK, onset + (w + 1) * WEEK));
    const ratios = weekly.slice(1).map((r, i) => r / (weekly[i] ?? 1));
    for (const r of ratios) {
      expect(r).toBeGreaterThan(1.6);
      expect(r).toBeLessThan(3.5);
    }
  });

  it('criticalAt matches the abort storm (> 20 arcs per exam)', () => {
    expect(arcsPerExam(critical - 3 * DAY, critical)).toBeLessThan(20);
    expect(arcsPerExam(critical, critical + 3 * DAY)).toBeGreaterThan(20);
  });

  it('filament current drifts +0.5 %/week, starting before onset', () => {
    const base = (sim.model as CtModel).params.filamentCurrentA;
    const filament = series(points, 'filament_current_a');
    const perWeek = slope(filament, WEEK) / base;
    expect(perWeek).toBeGreaterThan(0.004);
    expect(perWeek).toBeLessThan(0.006);
    expect(sim.groundTruth.milestones.filamentDriftFrom).toBeLessThan(onset);
    const atCritical = mean(values(within(filament, critical - HOUR, critical + HOUR)));
    expect(atCritical / base - 1).toBeCloseTo(0.065, 2);
  });
});

describe('ct-cooling-failure', () => {
  const sim = simulate('CT', 'ct-cooling-failure', '0d', { epoch: shanghai('2026-11-10T08:00:00') });
  const onset = sim.groundTruth.onsetAt;
  const points = collect(sim, onset - 2 * HOUR, onset + DAY, MINUTE);
  const gantry = series(points, 'gantry_temp_c');

  it('heats the gantry 1–3 °C per 10 minutes of scanning', () => {
    const model = sim.model as CtModel;
    const to = onset + 2 * HOUR;
    const scanMinutes = model.schedule.between(onset, to).reduce((a, e) => a + (Math.min(e.end, to) - Math.max(e.start, onset)) / MINUTE, 0);
    const healthy = simulate('CT', 'healthy', '0d', { epoch: onset });
    const base = series(collect(healthy, onset - 2 * HOUR, onset + DAY, MINUTE), 'gantry_temp_c');
    const added = at(gantry, to) - at(base, to);
    const per10 = (added - 1.5) / (scanMinutes / 10);
    expect(scanMinutes).toBeGreaterThan(20);
    expect(per10).toBeGreaterThan(1);
    expect(per10).toBeLessThan(3);
  });

  it('rises during scanning and the detector leaves its ±1 °C band', () => {
    expect(at(gantry, onset + 4 * HOUR) - mean(values(within(gantry, onset - HOUR, onset)))).toBeGreaterThan(8);
    const detector = series(points, 'detector_temp_c');
    const setpoint = (sim.model as CtModel).params.detectorSetpointC;
    expect(Math.abs(mean(values(within(detector, onset - HOUR, onset))) - setpoint)).toBeLessThan(1);
    expect(mean(values(within(detector, onset + 4 * HOUR, onset + 5 * HOUR))) - setpoint).toBeGreaterThan(1);
  });

  it('becomes critical when the gantry passes 40 °C', () => {
    const critical = sim.groundTruth.criticalAt ?? NaN;
    expect(critical - onset).toBeGreaterThan(HOUR);
    expect(critical - onset).toBeLessThan(12 * HOUR);
    expect(Math.max(...values(within(gantry, onset - 2 * HOUR, critical - 10 * MINUTE)))).toBeLessThan(40);
    expect(mean(values(within(gantry, critical + 5 * MINUTE, critical + 30 * MINUTE)))).toBeGreaterThan(40);
  });
});

describe('sensor-stuck', () => {
  it.each([
    ['MR', 'helium_level_pct'],
    ['CT', 'gantry_temp_c'],
  ] as const)('%s: %s repeats exactly its value at onset', (modality, metric) => {
    const sim = simulate(modality, 'sensor-stuck', '1d');
    expect(sim.groundTruth.metric).toBe(metric);
    const points = collect(sim, EPOCH, EPOCH + 3 * DAY, 5 * MINUTE);
    const s = series(points, metric);
    const before = values(within(s, EPOCH, EPOCH + DAY));
    const after = values(within(s, EPOCH + DAY, Infinity));
    expect(new Set(before).size).toBeGreaterThan(10);
    expect(after.length).toBeGreaterThan(100);
    expect(new Set(after).size).toBe(1);
  });

  it('accepts another target metric', () => {
    const sim = simulate('MR', 'sensor-stuck', '1d', { scenarioOptions: { metric: 'shield_temp_k' } });
    const after = values(within(series(collect(sim, EPOCH, EPOCH + 2 * DAY, 5 * MINUTE), 'shield_temp_k'), EPOCH + DAY, Infinity));
    expect(new Set(after).size).toBe(1);
  });

  it('rejects a metric the modality does not have', () => {
    expect(() => simulate('CT', 'sensor-stuck', '1d', { scenarioOptions: { metric: 'helium_level_pct' } })).toThrow(/no metric/);
  });
});

describe('sensor-dropout', () => {
  it('removes the metric for 6 h after onset, then it resumes', () => {
    const sim = simulate('MR', 'sensor-dropout', '1d');
    const onset = sim.groundTruth.onsetAt;
    const points = collect(sim, EPOCH, EPOCH + 2 * DAY, MINUTE);
    const helium = series(points, 'helium_level_pct');
    expect(within(helium, onset, onset + 6 * HOUR)).toEqual([]);
    expect(within(helium, onset - 2 * HOUR, onset).length).toBe(8);
    expect(within(helium, onset + 6 * HOUR, onset + 8 * HOUR).length).toBe(8);
    // Other metrics keep flowing.
    expect(within(series(points, 'shield_temp_k'), onset, onset + 6 * HOUR).length).toBe(360);
  });

  it('can drop several metrics for a configured window', () => {
    const sim = simulate('CT', 'sensor-dropout', '1d', { scenarioOptions: { metrics: ['gantry_temp_c', 'detector_temp_c'], duration: '2h' } });
    const onset = sim.groundTruth.onsetAt;
    expect(sim.groundTruth.milestones.dropoutEndsAt).toBe(onset + 2 * HOUR);
    const points = collect(sim, onset - HOUR, onset + 3 * HOUR, MINUTE);
    for (const m of ['gantry_temp_c', 'detector_temp_c']) {
      expect(within(series(points, m), onset, onset + 2 * HOUR)).toEqual([]);
      expect(within(series(points, m), onset + 2 * HOUR, Infinity).length).toBe(61);
    }
    expect(within(series(points, 'room_temp_c'), onset, onset + 2 * HOUR).length).toBe(120);
  });
});

describe('sensor-spike', () => {
  it.each([
    ['CT', 'gantry_temp_c', MINUTE],
    ['MR', 'helium_level_pct', 15 * MINUTE],
    ['CT', 'gantry_temp_c', 5_000],
  ] as const)('%s %s at %i ms ticks: rare isolated single-sample outliers only', (modality, metric, tick) => {
    const days = tick < MINUTE ? 2 : 14;
    const spiky = simulate(modality, 'sensor-spike', '0d', { id: 'spiky' });
    const healthy = simulate(modality, 'healthy', '0d', { id: 'spiky' });
    const a = series(collect(spiky, EPOCH + tick, EPOCH + days * DAY, tick), metric);
    const b = series(collect(healthy, EPOCH + tick, EPOCH + days * DAY, tick), metric);
    expect(a.length).toBe(b.length);
    const outliers: number[] = [];
    for (let i = 0; i < a.length; i++) if (a[i]?.[1] !== b[i]?.[1]) outliers.push(i);
    expect(outliers.length).toBeGreaterThanOrEqual(days * 0.5);
    expect(outliers.length).toBeLessThanOrEqual(days * 5);
    const sigma = Math.sqrt(mean(b.slice(1).map(([, v], i) => (v - (b[i]?.[1] ?? 0)) ** 2)));
    for (const i of outliers) {
      // Each outlier is a real outlier, one sample long, with normal neighbours.
      expect(Math.abs((a[i]?.[1] ?? 0) - (b[i]?.[1] ?? 0))).toBeGreaterThan(10 * sigma);
      expect(outliers).not.toContain(i + 1);
      if (i > 0) expect(a[i - 1]?.[1]).toBe(b[i - 1]?.[1]);
      if (i + 1 < a.length) expect(a[i + 1]?.[1]).toBe(b[i + 1]?.[1]);
    }
  });

  it('never looks like a sustained fault: hourly means stay normal', () => {
    const sim = simulate('MR', 'sensor-spike', '0d');
    const helium = series(collect(sim, EPOCH, EPOCH + 7 * DAY, 15 * MINUTE), 'helium_level_pct');
    const medians: number[] = [];
    for (let t = EPOCH; t < EPOCH + 7 * DAY; t += 2 * HOUR) {
      const v = values(within(helium, t, t + 2 * HOUR)).sort((x, y) => x - y);
      medians.push(v[Math.floor(v.length / 2)] ?? NaN);
    }
    const base = (sim.model as MrModel).params.heliumLevelPct;
    for (const m of medians) expect(Math.abs(m - base)).toBeLessThan(2);
  });
});
