import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { publishAsDevice } from '../support/mqtt-identity.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';

const ADMIN = 'test-admin-token-0123456789';
const FLEET = `
sites:
  - { id: h1, name: 第一医院 }
  - { id: h2, name: 第二医院 }
devices:
  - { id: MR-1, site: h1, modality: MR, vendor: Siemens, model: Avanto, installDate: "2019-05-01", location: { department: 放射科, floor: "1", room: "105" } }
  - { id: CT-2, site: h2, modality: CT, vendor: GE, model: Revolution }
`;

type Json = Record<string, unknown> & { items?: Array<Record<string, unknown>>; total?: number };

describe('work-order API: roles, validation, transitions', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  const tokens: Record<string, string> = { admin: ADMIN };
  const call = async (who: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${guardian.httpUrl}${path}`, {
      method,
      headers: { ...(who && { authorization: `Bearer ${tokens[who] ?? who}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Json };
  };
  const report = (deviceId: string) => ({
    deviceId,
    channel: 'hotline',
    grade: 'general',
    title: '图像伪影',
    phenomenon: '扫描图像出现环状伪影',
    alarmCodes: ['E1203'],
    faultType: 'detector',
    faultAt: '2026-11-25T01:58:00Z',
    reporter: { name: '王工', phone: '13800000000', department: '设备科' },
  });

  beforeAll(async () => {
    writeFileSync(join(dir.path, 'fleet.yaml'), FLEET);
    guardian = await startGuardian({ config: testConfig(dir.path, { fleetFile: join(dir.path, 'fleet.yaml'), autoRegister: false }), explicit: new Set(['mqtt.port']), logger: silentLogger() });
    for (const [name, role, siteId] of [
      ['supervisor-chen', 'supervisor'],
      ['engineer-li', 'engineer'],
      ['h1-equipment', 'hospital', 'h1'],
    ] as const) {
      const created = await call('admin', 'POST', '/api/tokens', { name, role, ...(siteId && { siteId }) });
      expect(created.status).toBe(201);
      tokens[name] = created.body.token as string;
    }
  }, 30_000);

  afterAll(async () => {
    await guardian?.stop();
    dir.remove();
  });

  it('401 without a valid token, 403 for a role that may not', async () => {
    expect((await call(undefined, 'GET', '/api/work-orders')).status).toBe(401);
    expect((await call('not-a-token', 'GET', '/api/work-orders')).status).toBe(401);
    expect((await call('engineer-li', 'GET', '/api/tokens')).status).toBe(403);
    expect((await call('h1-equipment', 'GET', '/api/dead-letters')).status).toBe(403);
    const tokenList = await call('admin', 'GET', '/api/tokens');
    expect(tokenList.body.items?.map((t) => t.name)).toEqual(['supervisor-chen', 'engineer-li', 'h1-equipment']);
    expect(JSON.stringify(tokenList.body)).not.toContain(tokens['engineer-li']);
    expect((await call('admin', 'POST', '/api/tokens', { name: 'x', role: 'hospital' })).status).toBe(400);
  });

  it('creates from a manual channel with the tender’s fields and finds it by number', async () => {
    const created = await call('supervisor-chen', 'POST', '/api/work-orders', report('MR-1'));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      number: expect.stringMatching(/^WO-\d{6}-\d{4}$/),
      status: 'new',
      statusLabel: { zh: '新建' },
      channel: 'hotline',
      channelLabel: { zh: '服务热线' },
      gradeLabel: { zh: '一般故障' },
      faultType: 'detector',
      alarmCodes: ['E1203'],
      reporter: { name: '王工', phone: '13800000000', department: '设备科' },
      device: { vendor: 'Siemens', model: 'Avanto', installDate: '2019-05-01', location: { department: '放射科', floor: '1', room: '105' } },
      faultAt: '2026-11-25T01:58:00.000Z',
      reportedBy: 'supervisor-chen',
      allowedActions: ['notify', 'acknowledge', 'cancel'],
    });
    expect((created.body.clocks as Array<{ name: string }>).map((c) => c.name)).toEqual(['respond']);
    const byNumber = await call('engineer-li', 'GET', `/api/work-orders/${created.body.number as string}`);
    expect(byNumber.status).toBe(200);
    expect(byNumber.body.id).toBe(created.body.id);
    expect((byNumber.body.timeline as Array<{ kind: string; actor: string }>)[0]).toMatchObject({ kind: 'created', actor: 'supervisor-chen' });
  });

  it('validation errors are clear 400s that name the field', async () => {
    const missing = await call('supervisor-chen', 'POST', '/api/work-orders', { ...report('MR-1'), reporter: undefined, channel: 'fax' });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/channel/);
    expect(missing.body.message).toMatch(/reporter/);
    expect((await call('supervisor-chen', 'POST', '/api/work-orders', report('NOPE'))).body).toMatchObject({ error: 'unknown_device' });
    const created = await call('supervisor-chen', 'POST', '/api/work-orders', report('MR-1'));
    const bad = await call('supervisor-chen', 'POST', `/api/work-orders/${created.body.id as number}/transitions`, { action: 'close', satisfaction: 9 });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/satisfaction/);
  });

  it('reads the fault time as every other instant is read: any ISO-8601 form with a zone, never 24:00', async () => {
    const compact = await call('supervisor-chen', 'POST', '/api/work-orders', { ...report('MR-1'), faultAt: '2026-11-25t09:58+0800' });
    expect(compact.status).toBe(201);
    expect(compact.body.faultAt).toBe('2026-11-25T01:58:00.000Z');
    const nul = await call('supervisor-chen', 'POST', '/api/work-orders', { ...report('MR-1'), phenomenon: '图像\u0000伪影' });
    expect(nul.status).toBe(400);
    expect(nul.body.message).toMatch(/phenomenon.*U\+0000/);
    const device = await call('admin', 'PATCH', '/api/devices/MR-1', { name: 'MR\u0000' });
    expect(device.status).toBe(400);
    expect(device.body.message).toMatch(/name.*one line/);
    const midnight = await call('supervisor-chen', 'POST', '/api/work-orders', { ...report('MR-1'), faultAt: '2026-11-25T24:00:00Z' });
    expect(midnight.status).toBe(400);
    expect(midnight.body.message).toMatch(/faultAt/);
  });

  it('transitions follow the state machine: 409 with the allowed actions, roles per action, audit trail', async () => {
    const created = await call('supervisor-chen', 'POST', '/api/work-orders', report('MR-1'));
    const path = `/api/work-orders/${created.body.number as string}/transitions`;
    const early = await call('engineer-li', 'POST', path, { action: 'resolve', resolution: 'x' });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ error: 'transition_not_allowed', status: 'new', allowedActions: ['notify', 'acknowledge', 'cancel'] });
    expect((await call('engineer-li', 'POST', path, { action: 'cancel', note: '重复报修' })).status).toBe(403);
    expect((await call('engineer-li', 'POST', path, { action: 'acknowledge' })).body.status).toBe('acknowledged');
    expect((await call('engineer-li', 'POST', path, { action: 'respond' })).body).toMatchObject({ error: 'mode_required' });
    expect((await call('engineer-li', 'POST', path, { action: 'respond', mode: 'remote', note: '已远程连接' })).body).toMatchObject({ status: 'responding', responseMode: 'remote' });
    expect((await call('engineer-li', 'POST', path, { action: 'start' })).body.status).toBe('in_progress');
    expect((await call('engineer-li', 'POST', path, { action: 'hold', note: '等待探测器模块备件' })).body.status).toBe('on_hold');
    expect((await call('engineer-li', 'POST', path, { action: 'resume' })).body.status).toBe('in_progress');
    expect((await call('engineer-li', 'POST', path, { action: 'resolve', resolution: '更换探测器模块并校准' })).body.status).toBe('resolved');
    expect((await call('engineer-li', 'POST', path, { action: 'close', satisfaction: 5 })).status).toBe(403);
    const closed = await call('h1-equipment', 'POST', path, { action: 'close', satisfaction: 5, comment: '响应及时' });
    expect(closed.body).toMatchObject({ status: 'closed', satisfaction: 5, satisfactionComment: '响应及时', closedBy: 'h1-equipment', allowedActions: [] });
    const detail = await call('supervisor-chen', 'GET', `/api/work-orders/${created.body.id as number}`);
    const steps = (detail.body.timeline as Array<{ kind: string; actor: string; from?: string; to?: string }>).filter((e) => e.kind === 'transition').map((e) => `${e.actor}:${e.from}>${e.to}`);
    expect(steps).toEqual([
      'engineer-li:new>acknowledged',
      'engineer-li:acknowledged>responding',
      'engineer-li:responding>in_progress',
      'engineer-li:in_progress>on_hold',
      'engineer-li:on_hold>in_progress',
      'engineer-li:in_progress>resolved',
      'h1-equipment:resolved>closed',
    ]);
    expect(detail.body).toMatchObject({ acknowledgedBy: 'engineer-li', respondedBy: 'engineer-li', resolvedBy: 'engineer-li', resolution: '更换探测器模块并校准' });
  });

  it('a hospital viewer sees and reports for its own site only', async () => {
    const other = await call('supervisor-chen', 'POST', '/api/work-orders', report('CT-2'));
    expect(other.status).toBe(201);
    expect((await call('h1-equipment', 'GET', `/api/work-orders/${other.body.id as number}`)).status).toBe(404);
    expect((await call('h1-equipment', 'POST', '/api/work-orders', report('CT-2'))).status).toBe(403);
    const own = await call('h1-equipment', 'POST', '/api/work-orders', { ...report('MR-1'), channel: 'web' });
    expect(own.status).toBe(201);
    const listed = await call('h1-equipment', 'GET', '/api/work-orders?limit=1000');
    expect(listed.body.items!.length).toBeGreaterThan(0);
    expect(listed.body.items!.every((w) => w.siteId === 'h1')).toBe(true);
    const all = await call('supervisor-chen', 'GET', '/api/work-orders?site=h2');
    expect(all.body.items!.map((w) => w.id)).toContain(other.body.id);
  });

  it('alerts open work orders by themselves, except while a maintenance window silences them', async () => {
    const silence = await call('supervisor-chen', 'POST', '/api/silences', {
      scope: { deviceId: 'MR-1' },
      author: '陈主管',
      reason: '液氦补充，计划停机',
      window: { startsAt: new Date(Date.now() - 3_600_000).toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString() },
    });
    expect(silence.status).toBe(201);
    {
      const now = Date.now();
      // Helium at 45 % (severe) on the silenced MR, and a gantry at 40 °C for 10 minutes on the CT.
      const helium = Array.from({ length: 5 }, (_, i) => ({ ts: now - (5 - i) * 60_000, metrics: { helium_level_pct: 45 } }));
      const gantry = Array.from({ length: 11 }, (_, i) => ({ ts: now - (11 - i) * 60_000, metrics: { gantry_temp_c: 40 } }));
      // Each scanner publishes as itself: the broker lets a device publish under its own topics only.
      await publishAsDevice(guardian, 'MR-1', [['guardian/h1/MR-1/telemetry', JSON.stringify({ samples: helium })]]);
      await publishAsDevice(guardian, 'CT-2', [['guardian/h2/CT-2/telemetry', JSON.stringify({ samples: gantry })]]);
    }
    const auto = await waitFor(
      async () => {
        const listed = await call('supervisor-chen', 'GET', '/api/work-orders?device=CT-2');
        return listed.body.items!.find((w) => w.channel === 'auto');
      },
      { what: 'an automatic work order for CT-2' },
    );
    expect(auto).toMatchObject({ kind: 'corrective', grade: 'general', ruleId: 'gantry-warm', faultType: 'cooling', reportedBy: 'system' });
    const alerts = await call('supervisor-chen', 'GET', '/api/alerts?device=MR-1');
    const helium = alerts.body.items!.find((a) => a.ruleId === 'helium-level-low');
    expect(helium).toMatchObject({ state: 'firing', grade: 'severe', silencedBy: silence.body.id });
    const mr = await call('supervisor-chen', 'GET', '/api/work-orders?device=MR-1');
    expect(mr.body.items!.filter((w) => w.channel === 'auto')).toEqual([]);
  });

  it('are described in the OpenAPI document at /docs', async () => {
    const response = await fetch(`${guardian.httpUrl}/docs/json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/work-orders', '/api/work-orders/{id}', '/api/work-orders/{id}/transitions', '/api/escalations', '/api/tokens']));
    expect(Object.keys(doc.paths['/api/work-orders']!)).toEqual(expect.arrayContaining(['get', 'post']));
  });

  it('lists with filters: status, grade, overdue', async () => {
    const open = await call('supervisor-chen', 'GET', '/api/work-orders?status=open&grade=general');
    expect(open.body.items!.every((w) => ['new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold'].includes(w.status as string) && w.grade === 'general')).toBe(true);
    expect((await call('supervisor-chen', 'GET', '/api/work-orders?status=bogus')).status).toBe(400);
    // Nothing reported here is 30 minutes old yet.
    expect((await call('supervisor-chen', 'GET', '/api/work-orders?overdue=true')).body.total).toBe(0);
    expect((await call('supervisor-chen', 'GET', '/api/work-orders?overdue=false')).body.total).toBeGreaterThan(0);
    // No clock has run out yet, so there is nothing to escalate.
    expect((await call('h1-equipment', 'GET', '/api/escalations')).body).toEqual({ items: [], total: 0 });
  });
});
