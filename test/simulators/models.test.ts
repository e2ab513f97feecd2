import { describe, expect, it } from 'vitest';
import { METRIC_CATALOGUE, metricDefinition, type Modality } from '../../src/kernel/catalogue/metrics.js';
import { buildFleet, generateTelemetry, readingAt } from '../../simulators/fleet.js';
import { CtModel } from '../../simulators/models/ct.js';
import { MrModel } from '../../simulators/models/mr.js';
import { scenarioNames, SCENARIOS } from '../../simulators/scenarios/index.js';
import { collect, DAY, device, EPOCH, HOUR, mean, MINUTE, series, shanghai, simulate, slope, sum, values, within } from './helpers.js';

describe('determinism', () => {
  const run = (seed: number) => {
    const fleet = buildFleet([device('CT'), device('MR')], { seed, epoch: EPOCH });
    return fleet.map((sim) => collect(sim, EPOCH, EPOCH + DAY, 5 * MINUTE));
  };

  it('the same seed gives identical telemetry', () => {
    expect(run(42)).toEqual(run(42));
  });

  it('a different seed gives different telemetry', () => {
    const a = run(42);
    const b = run(43);
    for (let i = 0; i < a.length; i++) expect(a[i]).not.toEqual(b[i]);
  });

  it('a restarted generator regenerates the same past, in any order', () => {
    const sim = simulate('CT', 'ct-tube-end-of-life', '-40d');
    const whole = collect(sim, EPOCH, EPOCH + 2 * DAY, MINUTE);
    const later = collect(sim, EPOCH + DAY, EPOCH + 2 * DAY, MINUTE);
    const first = collect(sim, EPOCH, EPOCH + DAY - MINUTE, MINUTE);
    expect([...first, ...later]).toEqual(whole);
    // A fresh fleet object (a restarted process) agrees too.
    const again = simulate('CT', 'ct-tube-end-of-life', '-40d');
    expect(collect(again, EPOCH + DAY, EPOCH + 2 * DAY, MINUTE)).toEqual(later);
  });

  it('counters are increments: any tick partition adds up to the same usage', () => {
    const sim = simulate('CT', 'ct-tube-end-of-life', '-35d');
    const fine = collect(sim, EPOCH + MINUTE, EPOCH + 2 * DAY, MINUTE);
    const coarse = collect(sim, EPOCH + 15 * MINUTE, EPOCH + 2 * DAY, 15 * MINUTE);
    expect(sum(fine, 'exams_count')).toBe(sum(coarse, 'exams_count'));
    expect(sum(fine, 'tube_arc_count')).toBe(sum(coarse, 'tube_arc_count'));
    expect(sum(fine, 'exams_count')).toBeGreaterThan(40);
    expect(Math.abs(sum(fine, 'scan_seconds') - sum(coarse, 'scan_seconds'))).toBeLessThan(0.05 * fine.length);
    expect(Math.abs(sum(fine, 'tube_mas') / sum(coarse, 'tube_mas') - 1)).toBeLessThan(1e-3);
  });
});

describe('catalogue coverage and sampling periods', () => {
  it.each<Modality>(['CT', 'MR'])('%s readings carry every catalogue metric', (modality) => {
    const sim = simulate(modality, 'healthy', '0d');
    const first = readingAt(sim, EPOCH, EPOCH - 15 * MINUTE);
    expect(Object.keys(first).sort()).toEqual(METRIC_CATALOGUE[modality].map((d) => d.name).sort());
  });

  it('helium level is due every 15 minutes, everything else at every tick', () => {
    const sim = simulate('MR', 'healthy', '0d');
    expect(sim.model.periodMs.helium_level_pct).toBe(15 * MINUTE);
    const points = collect(sim, EPOCH + MINUTE, EPOCH + 3 * HOUR, MINUTE);
    const helium = series(points, 'helium_level_pct');
    expect(helium.length).toBe(12);
    for (const [t] of helium) expect(t % (15 * MINUTE)).toBe(0);
    expect(series(points, 'shield_temp_k').length).toBe(points.length);
    // Live ticks of 5 s keep the 15-minute grid.
    const live = collect(sim, EPOCH + 5_000, EPOCH + HOUR, 5_000);
    expect(series(live, 'helium_level_pct').map(([t]) => (t - EPOCH) / MINUTE)).toEqual([15, 30, 45, 60]);
  });

  it('every scenario stays within the catalogue [min, max]', () => {
    const violations: string[] = [];
    let checked = 0;
    for (const name of scenarioNames) {
      const modalities: Modality[] = SCENARIOS[name]?.modality === 'any' ? ['CT', 'MR'] : [SCENARIOS[name]?.modality as Modality];
      for (const modality of modalities) {
        const sim = simulate(modality, name, '1d');
        for (const p of collect(sim, EPOCH, EPOCH + 4 * DAY, 7 * MINUTE)) {
          for (const [metric, v] of Object.entries(p.metrics)) {
            const def = metricDefinition(modality, metric);
            checked++;
            if (!def || !(v >= def.min && v <= def.max)) violations.push(`${name}/${modality} ${metric}=${v} at ${new Date(p.ts).toISOString()}`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100_000);
    expect(violations).toEqual([]);
  });
});

describe('CT model', () => {
  const sim = simulate('CT', 'healthy', '0d', { seed: 5 });
  const points = collect(sim, EPOCH, EPOCH + 14 * DAY, MINUTE);
  const heat = series(points, 'tube_heat_pct');

  it('tube heat is a saw-tooth in exam hours and low at night', () => {
    const day = within(heat, shanghai('2026-11-10T09:00:00'), shanghai('2026-11-10T17:00:00'));
    const night = within(heat, shanghai('2026-11-11T01:00:00'), shanghai('2026-11-11T05:00:00'));
    expect(Math.max(...values(day))).toBeGreaterThan(30);
    expect(mean(values(day))).toBeGreaterThan(3 * mean(values(night)));
    expect(values(night).sort((a, b) => a - b)[Math.floor(night.length / 2)]).toBeLessThan(6);
    // Saw-tooth: sharp rises (beam on), then mostly falling minute by minute.
    const diffs = day.slice(1).map(([, v], i) => v - (day[i]?.[1] ?? 0));
    const rises = diffs.filter((d, i) => d > 3 && (diffs[i - 1] ?? 0) <= 3).length;
    const exams = sum(points.filter((p) => p.ts >= (day[0]?.[0] ?? 0) && p.ts < (day.at(-1)?.[0] ?? 0)), 'exams_count');
    expect(rises).toBeGreaterThan(0.6 * exams);
    expect(diffs.filter((d) => d < 0).length).toBeGreaterThan(0.6 * diffs.length);
    // Between exams the decay is exponential: one anode time constant removes ~63 % of the excess.
    const model = sim.model as CtModel;
    const lonely = model.schedule.between(EPOCH, EPOCH + 14 * DAY).find((e, i, all) => {
      const next = all[i + 1];
      return model.examHeat(e) > 10 && next !== undefined && next.beamStart - e.beamEnd > 40 * MINUTE;
    });
    expect(lonely).toBeDefined();
    if (lonely) {
      const tau = model.params.anodeTauMs;
      const h0 = model.anodeHeat(lonely.beamEnd) - 2;
      const h1 = model.anodeHeat(lonely.beamEnd + tau) - 2;
      expect(h1 / h0).toBeGreaterThan(0.3);
      expect(h1 / h0).toBeLessThan(0.45);
    }
  });

  it('exams follow the working week: busy weekdays, quieter weekends, nearly idle nights', () => {
    const perDay = (from: string) => sum(points.filter((p) => p.ts >= shanghai(from) && p.ts < shanghai(from) + DAY), 'exams_count');
    const weekday = perDay('2026-11-11T00:00:00');
    const saturday = perDay('2026-11-14T00:00:00');
    expect(weekday).toBeGreaterThan(35);
    expect(saturday).toBeLessThan(0.7 * weekday);
    const nights = points.filter((p) => {
      const h = new Date(p.ts + 8 * HOUR).getUTCHours();
      return h >= 0 && h < 6;
    });
    expect(sum(nights, 'exams_count')).toBeLessThan(0.05 * sum(points, 'exams_count'));
  });

  it('tube housing follows the anode heat with a lag', () => {
    const housing = series(points, 'tube_housing_temp_c');
    const h = values(heat);
    const k = values(housing);
    const corr = (lag: number): number => {
      const a = h.slice(0, h.length - lag);
      const b = k.slice(lag);
      const ma = mean(a);
      const mb = mean(b);
      let sab = 0;
      let saa = 0;
      let sbb = 0;
      for (let i = 0; i < a.length; i++) {
        sab += ((a[i] ?? 0) - ma) * ((b[i] ?? 0) - mb);
        saa += ((a[i] ?? 0) - ma) ** 2;
        sbb += ((b[i] ?? 0) - mb) ** 2;
      }
      return sab / Math.sqrt(saa * sbb);
    };
    let best = 0;
    for (let lag = 0; lag <= 60; lag += 2) if (corr(lag) > corr(best)) best = lag;
    expect(best).toBeGreaterThanOrEqual(8);
    expect(best).toBeLessThanOrEqual(45);
  });

  it('healthy gauges stay in their normal bands', () => {
    for (const metric of ['gantry_temp_c', 'detector_temp_c', 'room_temp_c', 'room_humidity_pct', 'filament_current_a', 'tube_housing_temp_c']) {
      const [lo, hi] = metricDefinition('CT', metric)?.normal ?? [0, 0];
      const v = values(series(points, metric));
      expect(Math.min(...v), metric).toBeGreaterThanOrEqual(lo);
      expect(Math.max(...v), metric).toBeLessThanOrEqual(hi);
    }
    expect(sum(points, 'tube_arc_count')).toBeLessThan(0.1 * sum(points, 'exams_count'));
  });

  it('reports scanning while an exam is on the table', () => {
    const model = sim.model as CtModel;
    const exam = model.schedule.between(shanghai('2026-11-10T10:00:00'), shanghai('2026-11-10T12:00:00'))[0];
    expect(exam).toBeDefined();
    if (exam) {
      expect(model.state((exam.start + exam.end) / 2)).toBe('scanning');
      expect(model.state(exam.end + 1)).toBe('standby');
    }
  });
});

describe('MR model', () => {
  const sim = simulate('MR', 'healthy', '0d', { seed: 9 });
  const points = collect(sim, EPOCH, EPOCH + 14 * DAY, 5 * MINUTE);

  it('a healthy zero boil-off magnet holds its helium level', () => {
    const helium = series(points, 'helium_level_pct');
    expect(Math.abs(slope(helium, DAY))).toBeLessThan(0.1);
    const p = (sim.model as MrModel).params;
    expect(Math.abs(mean(values(helium)) - p.heliumLevelPct)).toBeLessThan(0.5);
  });

  it('cryogenics and water sit at their operating points', () => {
    const m = (metric: string) => mean(values(series(points, metric)));
    expect(m('helium_pressure_psi')).toBeGreaterThan(1.5);
    expect(m('helium_pressure_psi')).toBeLessThan(3);
    expect(m('cold_head_temp_k')).toBeCloseTo(4.2, 0);
    expect(m('shield_temp_k')).toBeGreaterThan(35);
    expect(m('shield_temp_k')).toBeLessThan(45);
    expect(m('heater_power_w')).toBeGreaterThan(2);
    expect(m('heater_power_w')).toBeLessThan(5);
    expect(Math.min(...values(series(points, 'heater_power_w')))).toBeGreaterThan(0.5);
    expect(new Set(values(series(points, 'compressor_running')))).toEqual(new Set([1]));
    expect(m('chilled_water_temp_c')).toBeGreaterThan(10.5);
    expect(m('chilled_water_temp_c')).toBeLessThan(13.5);
    expect(m('chilled_water_flow_lpm')).toBeGreaterThan(14);
    expect(m('chilled_water_flow_lpm')).toBeLessThan(18.5);
  });

  it('the gradient coil warms during scanning hours', () => {
    const grad = series(points, 'gradient_coil_temp_c');
    const day = within(grad, shanghai('2026-11-10T09:00:00'), shanghai('2026-11-10T17:00:00'));
    const night = within(grad, shanghai('2026-11-11T01:00:00'), shanghai('2026-11-11T06:00:00'));
    expect(mean(values(day)) - mean(values(night))).toBeGreaterThan(2);
    expect(Math.max(...values(grad))).toBeLessThan(35);
  });

  it('the magnet room follows a daily cycle', () => {
    const room = series(points, 'magnet_room_temp_c');
    const hourOf = (t: number) => new Date(t + 8 * HOUR).getUTCHours();
    const afternoon = values(room.filter(([t]) => hourOf(t) >= 14 && hourOf(t) < 17));
    const dawn = values(room.filter(([t]) => hourOf(t) >= 3 && hourOf(t) < 6));
    expect(mean(afternoon) - mean(dawn)).toBeGreaterThan(0.5);
  });

  it('each magnet has its own baseline', () => {
    const levels = buildFleet(
      Array.from({ length: 12 }, (_, i) => device('MR', `mr-${i}`)),
      { seed: 3, epoch: EPOCH },
    ).map((s) => (s.model as MrModel).params.heliumLevelPct);
    expect(new Set(levels.map((l) => l.toFixed(3))).size).toBe(levels.length);
    for (const l of levels) {
      expect(l).toBeGreaterThanOrEqual(75);
      expect(l).toBeLessThanOrEqual(92);
    }
  });

  it('generateTelemetry yields the MQTT body shape', () => {
    const [first] = generateTelemetry(sim, EPOCH, EPOCH, MINUTE);
    expect(Object.keys(first ?? {})).toEqual(['ts', 'metrics']);
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  });
});
