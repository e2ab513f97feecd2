import type { Modality } from '../../src/kernel/catalogue/metrics.js';
import { buildFleet, generateTelemetry, type SimulatedDevice, type SimulatedDeviceInput, type TelemetryPoint } from '../../simulators/fleet.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const WEEK = 7 * DAY;

/** Monday 2026-11-09 00:00 in Shanghai. */
export const EPOCH = Date.parse('2026-11-09T00:00:00+08:00');

/** Epoch ms of a Shanghai wall-clock time. */
export function shanghai(iso: string): number {
  return Date.parse(`${iso}+08:00`);
}

export function device(modality: Modality, id = modality === 'CT' ? 'test-ct' : 'test-mr'): SimulatedDeviceInput {
  return { id, site: 'test-site', modality, vendor: 'Test', model: modality === 'CT' ? 'CT-64' : 'MR-1.5T' };
}

export function simulate(
  modality: Modality,
  scenario: string,
  onset: string,
  options: { seed?: number; id?: string; epoch?: number; scenarioOptions?: NonNullable<SimulatedDeviceInput['simulation']>['options'] } = {},
): SimulatedDevice {
  const input: SimulatedDeviceInput = {
    ...device(modality, options.id),
    simulation: { scenario, onset, ...(options.scenarioOptions && { options: options.scenarioOptions }) },
  };
  const [sim] = buildFleet([input], { seed: options.seed ?? 1, epoch: options.epoch ?? EPOCH });
  if (!sim) throw new Error('no device');
  return sim;
}

export function collect(sim: SimulatedDevice, from: number, to: number, tick: number): TelemetryPoint[] {
  return [...generateTelemetry(sim, from, to, tick)];
}

/** (ts, value) pairs of one metric, skipping readings without it. */
export function series(points: readonly TelemetryPoint[], metric: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const p of points) {
    const v = p.metrics[metric];
    if (v !== undefined) out.push([p.ts, v]);
  }
  return out;
}

export function within(s: ReadonlyArray<[number, number]>, from: number, to: number): Array<[number, number]> {
  return s.filter(([t]) => t >= from && t < to);
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function values(s: ReadonlyArray<[number, number]>): number[] {
  return s.map(([, v]) => v);
}

/** Least-squares slope in value units per `unitMs`. */
export function slope(s: ReadonlyArray<[number, number]>, unitMs: number): number {
  const xs = s.map(([t]) => t / unitMs);
  const ys = values(s);
  const mx = mean(xs);
  const my = mean(ys);
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += ((xs[i] ?? 0) - mx) * ((ys[i] ?? 0) - my);
    den += ((xs[i] ?? 0) - mx) ** 2;
  }
  return num / den;
}

export function at(s: ReadonlyArray<[number, number]>, t: number): number {
  const hit = s.find(([ts]) => ts === t);
  if (!hit) throw new Error(`no sample at ${new Date(t).toISOString()}`);
  return hit[1];
}

export function sum(points: readonly TelemetryPoint[], metric: string): number {
  return points.reduce((a, p) => a + (p.metrics[metric] ?? 0), 0);
}
