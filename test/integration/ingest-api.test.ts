import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { engineLogin } from '../support/mqtt-identity.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';

const TOKEN = 'test-admin-token-0123456789';
const FLEET = `
sites:
  - id: test-hospital
    name: 测试医院
devices:
  - { id: MR-T1, site: test-hospital, modality: MR, vendor: Siemens, model: Avanto, location: { department: 放射科, floor: "1", room: "105" } }
  - { id: CT-T1, site: test-hospital, modality: CT, vendor: GE, model: Revolution }
`;

describe('ingest through the embedded broker, read back through the API', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  let client: MqttClient;
  const api = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${guardian.httpUrl}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> & { items: Array<Record<string, unknown>>; total: number } };
  };
  const publish = (topic: string, payload: string | Buffer) => client.publishAsync(topic, payload, { qos: 1 });

  beforeAll(async () => {
    writeFileSync(join(dir.path, 'fleet.yaml'), FLEET);
    mkdirSync(join(dir.path, 'rules'));
    for (const pack of ['ct.yaml', 'mr.yaml']) copyFileSync(join(import.meta.dirname, '../../rules/packs', pack), join(dir.path, 'rules', pack));
    guardian = await startGuardian({
      config: testConfig(dir.path, {
        fleetFile: join(dir.path, 'fleet.yaml'),
        autoRegister: false,
        collector: { maxPayloadBytes: 64 * 1024 },
        rules: { dir: join(dir.path, 'rules') },
      }),
      explicit: new Set(['mqtt.port']),
      logger: silentLogger(),
    });
    // As the engine's own identity, which may publish anywhere: these cases include messages no device is let send (foreign topics, other sites).
    client = await mqtt.connectAsync(guardian.mqttUrl, { clientId: 'test-publisher', ...engineLogin(guardian) });
  });

  afterAll(async () => {
    await client?.endAsync();
    await guardian?.stop();
    dir.remove();
  });

  it('stores every valid sample once and keeps every bad message as a dead letter with its reason', async () => {
    const now = Date.now();
    const t = (minutesAgo: number) => now - minutesAgo * 60_000;
    // Valid: 3 single samples (2 metrics each) and a backlog of 10 samples (1 metric each); one is sent twice.
    const single = (m: number, value: number) => JSON.stringify({ ts: t(m), metrics: { helium_level_pct: value, shield_temp_k: 40 + m } });
    await publish('guardian/test-hospital/MR-T1/telemetry', single(3, 80));
    await publish('guardian/test-hospital/MR-T1/telemetry', single(2, 79.5));
    await publish('guardian/test-hospital/MR-T1/telemetry', single(2, 79.5)); // redelivery: must not double
    await publish('guardian/test-hospital/MR-T1/telemetry', single(1, 79));
    await publish(
      'guardian/test-hospital/CT-T1/telemetry',
      JSON.stringify({ samples: Array.from({ length: 10 }, (_, i) => ({ ts: new Date(t(60 - i)).toISOString(), metrics: { gantry_temp_c: 22 + i / 10 } })) }),
    );
    // Bad, one per reason, interleaved with the good ones.
    const bad: Array<[string, string | Buffer, string]> = [
      ['guardian/test-hospital/MR-T1/telemetry', 'not json at all', 'invalid_json'],
      ['guardian/test-hospital/MR-T1/telemetry', '[1,2,3]', 'not_an_object'],
      ['guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ metrics: { helium_level_pct: 70 } }), 'missing_ts'],
      ['guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ ts: 'last tuesday', metrics: { helium_level_pct: 70 } }), 'invalid_ts'],
      ['guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ ts: now + 3_600_000, metrics: { helium_level_pct: 70 } }), 'ts_in_future'],
      ['guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ ts: now - 400 * 86_400_000, metrics: { helium_level_pct: 70 } }), 'ts_too_old'],
      ['guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ ts: now, metrics: { helium_level_pct: 'high' } }), 'non_finite_value'],
      ['guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ ts: now, metrics: { warp_core_pct: 1 } }), 'unknown_metric'],
      ['guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ ts: now, metrics: Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`m${i}_pct`, i])) }), 'too_many_metrics'],
      ['guardian/test-hospital/MR-T1/telemetry', Buffer.alloc(70 * 1024, 0x20), 'payload_too_large'],
      ['guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ ts: now, deviceId: 'CT-T1', metrics: { helium_level_pct: 70 } }), 'device_mismatch'],
      ['guardian/test-hospital/MR-T1/diagnostics', JSON.stringify({ ts: now }), 'bad_topic'],
      ['guardian/test-hospital/MR-GHOST/telemetry', JSON.stringify({ ts: now, metrics: { helium_level_pct: 70 } }), 'unknown_device'],
      ['guardian/other-hospital/MR-T1/telemetry', JSON.stringify({ ts: now, metrics: { helium_level_pct: 70 } }), 'site_mismatch'],
    ];
    for (const [topic, payload] of bad) {
      await publish(topic, payload);
      await publish('guardian/test-hospital/MR-T1/event', JSON.stringify({ ts: now, code: 'EXAM_DONE' }));
    }

    const helium = await waitFor(
      async () => {
        const { body } = await api(`/api/devices/MR-T1/telemetry?metric=helium_level_pct&from=-1h&step=raw`);
        const points = (body.series as Array<{ points: unknown[] }>)[0]!.points;
        return points.length >= 3 ? points : undefined;
      },
      { what: 'helium samples stored' },
    );
    expect(helium).toEqual([
      { ts: new Date(t(3)).toISOString(), value: 80 },
      { ts: new Date(t(2)).toISOString(), value: 79.5 },
      { ts: new Date(t(1)).toISOString(), value: 79 },
    ]);
    const gantry = await waitFor(async () => {
      const { body } = await api(`/api/devices/CT-T1/telemetry?metric=gantry_temp_c&from=-2h&step=raw`);
      const points = (body.series as Array<{ points: Array<{ value: number }> }>)[0]!.points;
      return points.length >= 10 ? points : undefined;
    });
    expect(gantry.map((p) => p.value)).toEqual(Array.from({ length: 10 }, (_, i) => 22 + i / 10));

    const letters = await waitFor(
      async () => {
        const { body } = await api('/api/dead-letters?limit=100');
        return body.total >= bad.length ? body : undefined;
      },
      { what: 'dead letters' },
    );
    expect(letters.total).toBe(bad.length);
    const reasons = letters.items.map((d) => d.reason).sort();
    expect(reasons).toEqual(bad.map(([, , reason]) => reason).sort());
    const invalidJson = letters.items.find((d) => d.reason === 'invalid_json')!;
    expect(invalidJson).toMatchObject({ topic: 'guardian/test-hospital/MR-T1/telemetry', deviceId: 'MR-T1', payload: 'not json at all', truncated: false });
    const tooLarge = letters.items.find((d) => d.reason === 'payload_too_large')!;
    expect(tooLarge).toMatchObject({ payloadBytes: 70 * 1024, truncated: true });

    const metrics = await (await fetch(`${guardian.httpUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).toMatch(/guardian_ingest_rejected_total\{reason="invalid_json",device="MR-T1"\} 1/);
    expect(metrics).toMatch(/guardian_ingest_rejected_total\{reason="unknown_device",device=""\} 1/);
    expect(metrics).not.toContain("MR-GHOST");
    expect(metrics).toMatch(/guardian_ingest_points_total 18/);
  });

  it('shows devices with location, latest values and status', async () => {
    await publish('guardian/test-hospital/MR-T1/status', JSON.stringify({ ts: Date.now(), state: 'scanning' }));
    const device = await waitFor(async () => {
      const { body } = await api('/api/devices/MR-T1');
      return (body.status as { state: string } | undefined)?.state === 'scanning' ? body : undefined;
    });
    expect(device).toMatchObject({
      id: 'MR-T1',
      site: 'test-hospital',
      siteName: '测试医院',
      modality: 'MR',
      location: { department: '放射科', floor: '1', room: '105' },
      latest: { helium_level_pct: { value: 79, unit: '%', zh: '液氦液位', flagged: false } },
    });
    const sites = await api('/api/sites');
    expect(sites.body.items).toEqual([expect.objectContaining({ id: 'test-hospital', devices: 2, modalities: { MR: 1, CT: 1 } })]);
    const events = await api('/api/devices/MR-T1/events');
    expect(events.body.total).toBe(1); // the same (ts, code) was sent 14 times: stored once
  });

  it('registers devices through the API and validates the body', async () => {
    const created = await api('/api/devices', {
      method: 'POST',
      body: JSON.stringify({ id: 'MR-T2', site: 'test-hospital', modality: 'MR', vendor: 'GE', model: 'SIGNA Pioneer', serial: 'SN-1', installDate: '2021-06-01', location: { department: '放射科', floor: '2', room: '201' } }),
    });
    expect(created.status).toBe(201);
    await publish('guardian/test-hospital/MR-T2/telemetry', JSON.stringify({ ts: Date.now(), metrics: { helium_level_pct: 88 } }));
    await waitFor(async () => ((await api('/api/devices/MR-T2')).body.latest as Record<string, unknown>).helium_level_pct);

    const invalid = await api('/api/devices', { method: 'POST', body: JSON.stringify({ id: 'x y', site: 'test-hospital', modality: 'PET' }) });
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toMatch(/modality/);
    const again = await api('/api/devices', { method: 'POST', body: JSON.stringify({ id: 'MR-T2', site: 'test-hospital', modality: 'MR', vendor: 'GE', model: 'x' }) });
    expect(again.status).toBe(409);
    const typoSite = await api('/api/devices', { method: 'POST', body: JSON.stringify({ id: 'MR-T3', site: 'test-hospitl', modality: 'MR', vendor: 'GE', model: 'x' }) });
    expect(typoSite.status).toBe(422);
    expect(typoSite.body.message).toContain('POST /api/sites');

    const patched = await api('/api/devices/MR-T2', { method: 'PATCH', body: JSON.stringify({ model: 'SIGNA Artist', location: { department: '放射科', room: '202' } }) });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ model: 'SIGNA Artist', vendor: 'GE', serial: 'SN-1', installDate: '2021-06-01', location: { department: '放射科', floor: '2', room: '202' } });
    const remodal = await api('/api/devices/MR-T2', { method: 'PATCH', body: JSON.stringify({ modality: 'CT' }) });
    expect(remodal.status).toBe(409);
    const moved = await api('/api/devices/MR-T2', { method: 'PATCH', body: JSON.stringify({ site: 'elsewhere' }) });
    expect(moved.status).toBe(409);
  });

  it('takes a last will "offline" dated at connect time as the current state', async () => {
    const now = Date.now();
    await publish('guardian/test-hospital/CT-T1/status', JSON.stringify({ ts: now, state: 'scanning' }));
    await waitFor(async () => ((await api('/api/devices/CT-T1')).body.status as { state: string } | undefined)?.state === 'scanning');
    await publish('guardian/test-hospital/CT-T1/status', JSON.stringify({ ts: now - 3_600_000, state: 'offline' }));
    const status = await waitFor(async () => {
      const s = (await api('/api/devices/CT-T1')).body.status as { state: string; ts: string } | undefined;
      return s?.state === 'offline' ? s : undefined;
    });
    expect(Date.parse(status.ts)).toBeGreaterThanOrEqual(now);
  });

  it('lists the rules in force and refuses a bad pack on reload, keeping the running rules', async () => {
    const all = await api('/api/rules');
    expect(all.status).toBe(200);
    const ids = all.body.items.map((r) => `${r.modality}/${r.id}`);
    expect(ids).toContain('MR/helium-level-low');
    expect(ids.some((id) => id.startsWith('CT/'))).toBe(true);
    const forDevice = await api('/api/rules?device=MR-T1');
    expect(forDevice.body.items.every((r) => r.modality === 'MR')).toBe(true);
    expect(forDevice.body.items.find((r) => r.id === 'helium-level-low')).toMatchObject({ kind: 'threshold', metric: 'helium_level_pct' });

    const mr = join(dir.path, 'rules', 'mr.yaml');
    const good = (await import('node:fs')).readFileSync(mr, 'utf8');
    writeFileSync(mr, good.replace('metric: helium_level_pct', 'metric: helium_levle_pct'));
    const refused = await api('/api/rules/reload', { method: 'POST', body: '{}' });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ file: mr, line: expect.any(Number), message: expect.stringContaining('helium_levle_pct') })]));
    expect((await api('/api/rules')).body.total).toBe(all.body.total);

    writeFileSync(mr, good);
    const reloaded = await api('/api/rules/reload', { method: 'POST', body: '{}' });
    expect(reloaded.status).toBe(200);
    expect(reloaded.body).toMatchObject({ packs: 2, rules: all.body.total });
  });

  it('raises a threshold alert with its grade and a bilingual message when helium falls below the severe level', async () => {
    const start = Date.now();
    for (const [i, value] of [49, 48, 47, 46].entries()) {
      await publish('guardian/test-hospital/MR-T1/telemetry', JSON.stringify({ ts: start + i * 1000, metrics: { helium_level_pct: value } }));
    }
    const alert = await waitFor(
      async () => {
        const { body } = await api('/api/alerts?device=MR-T1');
        return body.items.find((a) => a.ruleId === 'helium-level-low' && a.state === 'firing');
      },
      { what: 'helium alert firing' },
    );
    expect(alert).toMatchObject({
      site: 'test-hospital',
      location: { department: '放射科', room: '105' },
      grade: 'severe',
      gradeLabel: { zh: '严重故障', en: 'severe' },
      triggerCount: 1,
      flapping: false,
    });
    expect((alert.message as { zh: string }).zh).toContain('MR-T1');
    expect((alert.message as { en: string }).en).toMatch(/helium level 4[67]%, below 50%/);
    const onlyGeneral = await api('/api/alerts?grade=general');
    expect(onlyGeneral.body.items.every((a) => a.grade === 'general')).toBe(true);
  });

  it('requires a bearer token everywhere but the health probes', async () => {
    expect((await fetch(`${guardian.httpUrl}/api/devices`)).status).toBe(401);
    expect((await fetch(`${guardian.httpUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${guardian.httpUrl}/api/devices`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    expect((await fetch(`${guardian.httpUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${guardian.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { mqtt: { ok: true }, telemetry_store: { ok: true }, database: { ok: true } } });
  });

  it('answers aggregated telemetry with min/mean/max per step', async () => {
    const { status, body } = await api('/api/devices/CT-T1/telemetry?metric=gantry_temp_c&from=-2h&step=1h');
    expect(status).toBe(200);
    const points = (body.series as Array<{ points: Array<{ count: number; min: number; max: number }> }>)[0]!.points;
    expect(points.reduce((n, p) => n + p.count, 0)).toBe(10);
    expect(Math.min(...points.map((p) => p.min))).toBeCloseTo(22);
    expect(Math.max(...points.map((p) => p.max))).toBeCloseTo(22.9);
    for (const query of ['from=yesterday', 'from=2026-11-25T08:00:00', 'from=Nov%2025', 'step=99999999999999999999w', 'step=0s', 'metric=tube_heat_pct,warp_core_pct']) {
      const bad = await api(`/api/devices/CT-T1/telemetry?${query}`);
      expect(bad.status, query).toBe(400);
    }
    for (const [tz, hour] of [['', '16'], ['&tz=UTC', '00'], ['&tz=Europe/Berlin', '23']] as const) {
      const daily = await api(`/api/devices/CT-T1/telemetry?metric=gantry_temp_c&from=-3d&step=1d${tz}`);
      const days = (daily.body.series as Array<{ points: Array<{ ts: string; count: number }> }>)[0]!.points;
      expect(days.reduce((n, p) => n + p.count, 0)).toBe(10);
      // Daily buckets start at midnight in the site's zone (Asia/Shanghai: 16:00 UTC) or the one asked for.
      for (const p of days) expect(p.ts.slice(11, 13), `${tz} ${p.ts}`).toBe(hour);
    }
    expect((await api('/api/devices/CT-T1/telemetry?step=1d')).body.timeZone).toBe('Asia/Shanghai');
    expect((await api('/api/devices/CT-T1/telemetry?step=1d&tz=Mars/Olympus')).status).toBe(400);
    expect((await api('/api/sites', { method: 'POST', body: JSON.stringify({ id: 'mars-base', name: '火星', timezone: 'Mars/Olympus' }) })).status).toBe(400);
    const unknown = await api('/api/devices/CT-T1/telemetry?metric=warp_core_pct');
    expect(unknown.body.message).toContain('warp_core_pct');
  });
});
