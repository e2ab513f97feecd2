/**
 * Ready means ready: in the demo, `/readyz` answers 200 only once the backfill is stored,
 * evaluated and the alert outbox drained into work orders — a probe (a load balancer, a test, a
 * person) that acts on the first 200 finds the backfill's alerts and work orders there.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { tempDir, testConfig } from '../helpers.js';
import { needs } from '../support/servers.js';
import { postgresTarget, type Target } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const postgres = needs('on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');
const TOKEN = 'test-admin-token-0123456789';

// An MR whose helium compressor stops three days into a seven-day backfill.
const FLEET = `
sites:
  - { id: h1, name: 测试医院, nameEn: Test Hospital }
devices:
  - id: MR-STOP
    site: h1
    modality: MR
    vendor: Siemens
    model: Avanto
    simulation: { scenario: mr-compressor-stop, onset: 3d }
  - id: MR-OK
    site: h1
    modality: MR
    vendor: Siemens
    model: Avanto
    simulation: { scenario: healthy }
`;

interface Readiness {
  status: string;
  checks: Record<string, { ok: boolean; error?: string }>;
}

const databases: Array<{ title: string; skip: boolean; target?: () => Target }> = [
  { title: 'SQLite', skip: false },
  { title: postgres.title, skip: postgres.skip, target: () => postgresTarget(PG_URL!) },
];

describe.each(databases)('the demo is ready when its backfill is in ($title)', ({ skip, target: makeTarget }) => {
  const dir = tempDir();
  const target = skip ? undefined : makeTarget?.();
  let guardian: RunningGuardian;

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

  it.skipIf(skip)('answers 503 naming the backfill until it is stored, evaluated and its work orders opened; at the first 200 they are all there', async () => {
    const get = async (path: string) => fetch(`${guardian.httpUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const waiting: string[] = [];
    let ready: Readiness | undefined;
    const deadline = Date.now() + 90_000;
    while (ready === undefined && Date.now() < deadline) {
      const response = await get('/readyz');
      const body = (await response.json()) as Readiness;
      if (response.status === 200) ready = body;
      else {
        expect(response.status).toBe(503);
        waiting.push(body.checks.demo_backfill?.error ?? '');
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(ready, 'ready within 90 s').toBeDefined();
    expect(ready!.checks.demo_backfill).toEqual({ ok: true });
    // It was not ready at first, and said what it waited for.
    expect(waiting[0]).toMatch(/demo backfill/);

    // At once, with no waiting: the backfill's faults have their alerts and work orders.
    const orders = (await (await get('/api/work-orders?device=MR-STOP')).json()) as { items: Array<{ ruleId?: string; kind: string }> };
    const rules = orders.items.map((w) => w.ruleId);
    expect(rules).toContain('compressor-off');
    expect(rules).toContain('helium-level-forecast');
    const alerts = (await (await get('/api/alerts?device=MR-STOP&state=firing')).json()) as { items: Array<{ ruleId: string }> };
    expect(alerts.items.map((a) => a.ruleId)).toEqual(expect.arrayContaining(['compressor-off', 'helium-level-forecast']));
    // Every firing alert that opens one already has its work order.
    for (const a of alerts.items) expect(rules).toContain(a.ruleId);
  }, 120_000);
});
