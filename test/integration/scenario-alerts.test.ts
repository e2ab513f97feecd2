import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';
import { needs } from '../support/servers.js';
import { postgresTarget, type Target } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const postgres = needs('on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

const TOKEN = 'test-admin-token-0123456789';
// One MR whose helium compressor stops three days into a seven-day backfill, and a healthy one.
const FLEET = `
sites:
  - { id: h1, name: 测试医院, nameEn: Test Hospital }
devices:
  - id: MR-STOP
    site: h1
    modality: MR
    vendor: Siemens
    model: Avanto
    name: 磁共振2号
    location: { department: 放射科, floor: "1", room: "105" }
    simulation: { scenario: mr-compressor-stop, onset: 3d }
  - id: MR-OK
    site: h1
    modality: MR
    vendor: Siemens
    model: Avanto
    simulation: { scenario: healthy }
`;

interface AlertItem {
  deviceId: string;
  ruleId: string;
  state: string;
  grade?: string;
  gradeLabel?: { zh: string; en: string };
  message: { zh: string; en: string };
  location?: { department?: string };
  forecast?: { crossingAt: string; earliest: string; latest?: string; slopePerDay: number };
}

interface WorkOrderItem {
  number: string;
  kind: string;
  channel: string;
  status: string;
  grade: string;
  ruleId?: string;
  plannedDueAt?: string;
  device: { vendor: string; location?: { room?: string } };
  clocks: Array<{ name: string }>;
}

const databases: Array<{ title: string; skip: boolean; target?: () => Target }> = [
  { title: 'on SQLite', skip: false },
  { title: postgres.title, skip: postgres.skip, target: () => postgresTarget(PG_URL!) },
];

describe.each(databases)('a fault scenario published through the broker raises its alerts and opens work orders ($title)', ({ skip, target: makeTarget }) => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  const target = skip ? undefined : makeTarget?.();
  const alerts = async (query: string): Promise<AlertItem[]> => {
    const response = await fetch(`${guardian.httpUrl}/api/alerts?${query}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    return ((await response.json()) as { items: AlertItem[] }).items;
  };

  const get = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${guardian.httpUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  };

  beforeAll(async () => {
    if (skip) return;
    writeFileSync(join(dir.path, 'fleet.yaml'), FLEET);
    const url = target ? (await target.fresh()).url : undefined;
    guardian = await startGuardian({
      config: testConfig(dir.path, {
        ...(url && { database: { url } }),
        fleetFile: join(dir.path, 'fleet.yaml'),
        simulate: { enabled: true, backfill: '7d', backfillTick: '5m', interval: '5s', seed: 11 },
      }),
      explicit: new Set(['mqtt.port']),
      logger: silentLogger(),
    });
  }, 60_000);

  afterAll(async () => {
    await guardian?.stop();
    await target?.cleanup();
    dir.remove();
  });

  it.skipIf(skip)('warns of the helium crossing with a forecast, raises the compressor fault, and each opens its work order; the healthy scanner raises nothing', async () => {
    const firing = await waitFor(
      async () => {
        const items = await alerts('device=MR-STOP&state=firing');
        return items.some((a) => a.ruleId === 'helium-level-forecast') && items.some((a) => a.ruleId === 'compressor-off') ? items : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'helium forecast and compressor alerts' },
    );
    const forecast = firing.find((a) => a.ruleId === 'helium-level-forecast')!;
    expect(forecast.forecast).toBeDefined();
    const crossing = Date.parse(forecast.forecast!.crossingAt);
    expect(crossing).toBeGreaterThan(Date.now());
    expect(Date.parse(forecast.forecast!.earliest)).toBeLessThanOrEqual(crossing);
    expect(forecast.forecast!.slopePerDay).toBeLessThan(-1);
    expect(forecast.gradeLabel?.zh).toMatch(/故障|事件/);
    expect(forecast.message.zh).toContain('磁共振2号');
    expect(forecast.message.zh).toMatch(/\d+(\.\d)? (天|小时)/);
    expect(forecast.location?.department).toBe('放射科');

    const compressor = firing.find((a) => a.ruleId === 'compressor-off')!;
    expect(compressor.grade).toBe('severe');

    expect(await alerts('device=MR-OK')).toEqual([]);

    // Each alert opened a work order by itself: corrective for the fault, planned for the forecast.
    const orders = await waitFor(
      async () => {
        const { items } = await get<{ items: WorkOrderItem[] }>('/api/work-orders?device=MR-STOP');
        return items.some((w) => w.ruleId === 'compressor-off') && items.some((w) => w.ruleId === 'helium-level-forecast') ? items : undefined;
      },
      { timeoutMs: 30_000, what: 'work orders for MR-STOP' },
    );
    const corrective = orders.find((w) => w.ruleId === 'compressor-off')!;
    expect(corrective).toMatchObject({ kind: 'corrective', channel: 'auto', status: 'new', grade: 'severe', device: { vendor: 'Siemens', location: { room: '105' } } });
    expect(corrective.number).toMatch(/^WO-\d{6}-\d{4}$/);
    expect(corrective.clocks.map((c) => c.name)).toContain('respond');
    const planned = orders.find((w) => w.ruleId === 'helium-level-forecast')!;
    expect(planned.kind).toBe('planned');
    expect(Date.parse(planned.plannedDueAt!)).toBeGreaterThan(Date.now());
    // One per fault identity.
    expect(new Set(orders.map((w) => w.ruleId)).size).toBe(orders.length);
    expect((await get<{ items: WorkOrderItem[] }>('/api/work-orders?device=MR-OK')).items).toEqual([]);
  }, 120_000);
});
