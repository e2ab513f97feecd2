import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/servers.js';
import { postgresTarget, type Target } from '../support/sql-targets.js';
import { apiFixture, engineAlert, type ApiFixture } from './fixture.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const onPostgres = needs('scanners at risk in GET /api/devices on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');
const DAY = 86_400_000;

type Device = Record<string, unknown> & { id: string };

/**
 * `GET /api/devices` and `GET /api/devices/:id` tell which scanners are at risk now: each one's
 * worst open grade, its open alerts and open work orders, and the nearest forecast crossing — for a
 * page in a bounded number of queries, not one per device. A hospital token lists its own site's.
 */
function describeDeviceRisk(title: string, makeTarget: (() => Target) | undefined, skip = false): void {
  describe.skipIf(skip)(title, () => {
    const target = skip ? undefined : makeTarget?.();
    let api: ApiFixture;
    const crossing = Date.now() + 9 * DAY;

    beforeAll(async () => {
      const where = await target?.fresh();
      api = await apiFixture({ ...(where?.url && { url: where.url }) });
      api.alerts = [
        engineAlert('MR-1', 'helium-level-forecast', 'firing', 'general', { crossingAt: crossing }),
        engineAlert('MR-1', 'cold-head-warm', 'pending', 'minor'),
        engineAlert('MR-1', 'shield-warm', 'resolved', 'emergency'),
        engineAlert('MR-1', 'helium-nodata', 'normal'),
        engineAlert('MR-2', 'helium-level-forecast', 'firing', 'severe', { crossingAt: crossing + DAY }),
      ];
      const report = (deviceId: string, grade: string) => ({ deviceId, channel: 'hotline', grade, title: '故障', phenomenon: '扫描中断', reporter: { name: '王工' } });
      for (const [device, grade] of [
        ['MR-1', 'minor'],
        ['CT-1', 'severe'],
        ['CT-1', 'emergency'],
      ] as const) {
        expect((await api.call(api.tokens.supervisor, 'POST', '/api/work-orders', report(device, grade))).status).toBe(201);
      }
      // A work order no longer open does not count.
      const list = await api.call(api.tokens.supervisor, 'GET', '/api/work-orders?device=CT-1');
      const emergency = list.body.items!.find((w) => w.grade === 'emergency')!;
      expect((await api.call(api.tokens.supervisor, 'POST', `/api/work-orders/${String(emergency.id)}/transitions`, { action: 'cancel', note: '重复报修' })).status).toBe(200);
    }, 60_000);

    afterAll(async () => {
      await api?.close();
      await target?.cleanup();
    });

    it('each scanner with its worst open grade, open alerts and work orders, and the nearest forecast crossing', async () => {
      const answer = await api.call(api.tokens.engineer, 'GET', '/api/devices');
      expect(answer.status).toBe(200);
      const byId = Object.fromEntries((answer.body.items as Device[]).map((d) => [d.id, d]));
      expect(byId['MR-1']).toMatchObject({
        worstGrade: 'general',
        openAlerts: [
          { ruleId: 'helium-level-forecast', state: 'firing', grade: 'general' },
          { ruleId: 'cold-head-warm', state: 'pending', grade: 'minor' },
        ],
        openWorkOrders: [{ status: 'new', grade: 'minor', kind: 'corrective', number: expect.stringMatching(/^WO-\d{6}-\d{4}$/) }],
        nextCrossing: { ruleId: 'helium-level-forecast', metric: 'helium_level_pct', level: 50, direction: 'below', crossingAt: new Date(crossing).toISOString(), grade: 'general' },
      });
      // A work order is an open fault too: CT-1's worst grade comes from its open (severe) one.
      expect(byId['CT-1']).toMatchObject({ worstGrade: 'severe', openAlerts: [], openWorkOrders: [{ grade: 'severe', status: 'new' }] });
      expect(byId['CT-1']).not.toHaveProperty('nextCrossing');
      expect(byId['MR-2']).toMatchObject({ worstGrade: 'severe', openWorkOrders: [], nextCrossing: { crossingAt: new Date(crossing + DAY).toISOString() } });

      const one = await api.call(api.tokens.engineer, 'GET', '/api/devices/MR-1');
      expect(one.body).toMatchObject({ worstGrade: 'general', openAlerts: byId['MR-1']!.openAlerts, openWorkOrders: byId['MR-1']!.openWorkOrders, nextCrossing: byId['MR-1']!.nextCrossing });
    });

    it('a scanner with nothing open says so', async () => {
      const saved = api.alerts;
      api.alerts = [];
      try {
        const answer = await api.call(api.tokens.engineer, 'GET', '/api/devices/MR-2');
        expect(answer.body).toMatchObject({ openAlerts: [], openWorkOrders: [] });
        expect(answer.body).not.toHaveProperty('worstGrade');
        expect(answer.body).not.toHaveProperty('nextCrossing');
      } finally {
        api.alerts = saved;
      }
    });

    it('asks for the open work orders once per page, whatever its size', async () => {
      for (const limit of [1, 2, 3]) {
        const before = api.openOfCalls;
        const answer = await api.call(api.tokens.engineer, 'GET', `/api/devices?limit=${limit}`);
        expect(answer.body.items).toHaveLength(limit);
        expect(api.openOfCalls - before).toBe(1);
      }
    });

    it('summarises risk from the alerts as held, without rendering every alert message', async () => {
      const before = api.renderedListCalls;
      expect((await api.call(api.tokens.engineer, 'GET', '/api/devices')).status).toBe(200);
      expect((await api.call(api.tokens.engineer, 'GET', '/api/devices/MR-1')).status).toBe(200);
      expect(api.renderedListCalls - before).toBe(0);
      expect((await api.call(api.tokens.engineer, 'GET', '/api/alerts')).status).toBe(200);
      expect(api.renderedListCalls - before).toBe(1);
    });

    it('a hospital token lists its own site’s scanners, with their risk, and no other site’s', async () => {
      const own = await api.call(api.tokens.hospital, 'GET', '/api/devices');
      expect(own.status).toBe(200);
      expect((own.body.items as Device[]).map((d) => d.id).sort()).toEqual(['CT-1', 'MR-1']);
      expect((own.body.items as Device[]).find((d) => d.id === 'MR-1')).toMatchObject({ worstGrade: 'general' });
      expect((await api.call(api.tokens.hospital, 'GET', '/api/devices?site=h2')).body).toEqual({ items: [], total: 0 });
      expect((await api.call(api.tokens.hospital, 'GET', '/api/devices/MR-2')).status).toBe(404);
      expect((await api.call(api.tokens.hospital, 'GET', '/api/devices/MR-1')).status).toBe(200);
    });
  });
}

describeDeviceRisk('scanners at risk in GET /api/devices on SQLite', undefined);
describeDeviceRisk(onPostgres.title, PG_URL ? () => postgresTarget(PG_URL) : undefined, onPostgres.skip);
