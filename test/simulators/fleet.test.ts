import { describe, expect, it } from 'vitest';
import { FleetFileSchema } from '../../src/devices/fleet-file.js';
import { buildFleet, DEMO_FLEET, eventsFor, generateTelemetry, resolveOnset, SimulatedDeviceSchema, stateAt } from '../../simulators/fleet.js';
import { collect, DAY, device, EPOCH, HOUR, MINUTE, series, within } from './helpers.js';

describe('simulated device schema', () => {
  it('defaults the scenario to healthy and accepts ISO or relative onsets', () => {
    const parsed = SimulatedDeviceSchema.parse({ ...device('MR'), simulation: {} });
    expect(parsed.simulation?.scenario).toBe('healthy');
    for (const onset of ['3d', '-2h', '36h', '2026-11-12T08:00:00+08:00', '2026-11-12T00:00:00Z']) {
      expect(SimulatedDeviceSchema.safeParse({ ...device('MR'), simulation: { scenario: 'mr-quench', onset } }).success, onset).toBe(true);
    }
  });

  it('rejects unknown scenarios, bad onsets and scenarios of the other modality', () => {
    expect(SimulatedDeviceSchema.safeParse({ ...device('MR'), simulation: { scenario: 'mr-explodes' } }).success).toBe(false);
    expect(SimulatedDeviceSchema.safeParse({ ...device('MR'), simulation: { scenario: 'mr-quench', onset: 'soon' } }).success).toBe(false);
    expect(SimulatedDeviceSchema.safeParse({ ...device('CT'), simulation: { scenario: 'mr-quench' } }).success).toBe(false);
    expect(SimulatedDeviceSchema.safeParse({ ...device('CT'), simulation: { scenario: 'sensor-stuck' } }).success).toBe(true);
    expect(() => buildFleet([{ ...device('CT'), simulation: { scenario: 'mr-quench' } }], { seed: 1, epoch: EPOCH })).toThrow(/is for MR/);
  });

  it('resolves onsets against the fleet epoch', () => {
    expect(resolveOnset('3d', EPOCH)).toBe(EPOCH + 3 * DAY);
    expect(resolveOnset('-2h', EPOCH)).toBe(EPOCH - 2 * HOUR);
    expect(resolveOnset('36h', EPOCH)).toBe(EPOCH + 36 * HOUR);
    expect(resolveOnset('2026-11-12T00:00:00Z', EPOCH)).toBe(Date.parse('2026-11-12T00:00:00Z'));
    expect(resolveOnset(undefined, EPOCH)).toBe(EPOCH);
  });

  it('rejects duplicate device ids', () => {
    expect(() => buildFleet([device('CT', 'a'), device('MR', 'a')], { seed: 1, epoch: EPOCH })).toThrow(/duplicate/);
  });
});

describe('DEMO_FLEET', () => {
  it('is a valid fleet file: two Chinese hospitals, ≥ 2 CT and ≥ 2 MR', () => {
    const file = FleetFileSchema.parse(DEMO_FLEET);
    expect(file.sites.map((s) => s.id)).toContain('yt-first-hospital');
    expect(file.sites.length).toBe(2);
    for (const s of file.sites) expect(s.name).toMatch(/医院/);
    const siteIds = new Set(file.sites.map((s) => s.id));
    for (const d of file.devices) {
      expect(siteIds.has(d.site)).toBe(true);
      expect(d.location?.department).toBe('放射科');
    }
    expect(file.devices.filter((d) => d.modality === 'CT').length).toBeGreaterThanOrEqual(2);
    expect(file.devices.filter((d) => d.modality === 'MR').length).toBeGreaterThanOrEqual(2);
    expect(file.devices.length).toBeLessThanOrEqual(6);
  });

  it('shows a compressor stop 4 days before the end of a 14-day backfill and a failing CT tube', () => {
    const fleet = buildFleet(DEMO_FLEET.devices, { seed: 42, epoch: EPOCH });
    const end = EPOCH + 14 * DAY;
    const stop = fleet.find((s) => s.scenario.name === 'mr-compressor-stop');
    expect(stop?.device.modality).toBe('MR');
    expect(end - (stop?.groundTruth.onsetAt ?? 0)).toBe(4 * DAY);
    expect(stop?.groundTruth.criticalAt).toBeGreaterThan(end);
    const tube = fleet.find((s) => s.scenario.name === 'ct-tube-end-of-life');
    expect(tube?.device.modality).toBe('CT');
    expect(tube?.groundTruth.onsetAt).toBeLessThan(end);
    expect(tube?.groundTruth.criticalAt).toBeGreaterThan(end);
    expect(fleet.filter((s) => s.scenario.name === 'healthy').length).toBeGreaterThanOrEqual(2);
  });
});

describe('generateTelemetry', () => {
  const [sim] = buildFleet([{ ...device('MR'), simulation: { scenario: 'mr-compressor-stop', onset: '1h' } }], { seed: 2, epoch: EPOCH });
  if (!sim) throw new Error('no device');

  it('ticks from fromTs to toTs inclusive', () => {
    const points = collect(sim, EPOCH, EPOCH + HOUR, MINUTE);
    expect(points.length).toBe(61);
    expect(points[0]?.ts).toBe(EPOCH);
    expect(points.at(-1)?.ts).toBe(EPOCH + HOUR);
  });

  it('previousTs makes a resumed run identical to a continuous one', () => {
    const whole = collect(sim, EPOCH, EPOCH + 2 * HOUR, MINUTE);
    const resumed = [...generateTelemetry(sim, EPOCH + HOUR + MINUTE, EPOCH + 2 * HOUR, MINUTE, { previousTs: EPOCH + HOUR })];
    expect(resumed).toEqual(whole.filter((p) => p.ts > EPOCH + HOUR));
    expect(within(series(resumed, 'helium_level_pct'), 0, Infinity).length).toBe(4);
  });

  it('lists scenario events and tube arcs', () => {
    expect(eventsFor(sim, EPOCH, EPOCH + 2 * HOUR).map((e) => e.code)).toEqual(['COMPRESSOR_TRIP']);
    const [ct] = buildFleet([{ ...device('CT'), simulation: { scenario: 'ct-tube-end-of-life', onset: '-40d' } }], { seed: 2, epoch: EPOCH });
    if (!ct) throw new Error('no device');
    const withArcs = collect(ct, EPOCH, EPOCH + DAY, MINUTE).find((p) => (p.metrics.tube_arc_count ?? 0) > 0);
    expect(withArcs).toBeDefined();
    const events = eventsFor(ct, (withArcs?.ts ?? 0) - MINUTE, withArcs?.ts ?? 0, withArcs?.metrics);
    expect(events).toEqual([expect.objectContaining({ code: 'TUBE_ARC', ts: withArcs?.ts, data: { count: withArcs?.metrics.tube_arc_count } })]);
    expect(['scanning', 'standby']).toContain(stateAt(ct, withArcs?.ts ?? 0));
  });
});
