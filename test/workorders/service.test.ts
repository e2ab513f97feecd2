import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuleEngine } from '../../rules/engine.js';
import type { SilenceLookup } from '../../src/kernel/ports/silence-lookup.js';
import { RuleSet } from '../../rules/rule-set.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { silentLogger } from '../../src/app/log.js';
import { AlertRepository } from '../../src/storage/sql/alert-repository.js';
import { migrateToLatest, openSqlDatabase } from '../../src/storage/sql/database.js';
import { SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';
import { WorkOrderError, WorkOrderService } from '../../src/workorders/service.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { tempDir } from '../helpers.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-11-20T02:00:00Z');
const logger = silentLogger();
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const PACK = `
pack: mr-test
modality: MR
rules:
  - id: helium-low
    kind: threshold
    metric: helium_level_pct
    direction: below
    levels: { general: { raise: 60, clear: 62 }, severe: { raise: 50, clear: 52 } }
    message: { zh: "{{device}} 液氦 {{value}}%", en: "{{device}} helium {{value}}%" }
  - id: helium-forecast
    kind: trend
    metric: helium_level_pct
    window: 2d
    direction: below
    threshold: 50
    horizon: 30d
    grades: { general: 14d, severe: 7d }
    min_points: 12
    message: { zh: "{{device}} 液氦约 {{eta}}后降至 {{threshold}}%", en: "{{device}} helium reaches {{threshold}}% in about {{eta}}" }
  - id: tube-like
    kind: threshold
    metric: shield_temp_k
    direction: above
    fault_type: detector
    levels: { severe: { raise: 60, clear: 55 } }
    message: { zh: "{{device}} 冷屏 {{value}} K", en: "{{device}} shield {{value}} K" }
`;

async function setup(options: { silences?: SilenceLookup } = {}) {
  const dir = tempDir();
  cleanup.push(() => dir.remove());
  mkdirSync(join(dir.path, 'packs'));
  writeFileSync(join(dir.path, 'packs', 'mr.yaml'), PACK);
  const db = await openSqlDatabase({ sqliteFile: join(dir.path, 'guardian.db') });
  cleanup.push(() => db.close());
  await migrateToLatest(db);
  const registry = await DeviceRegistry.open(new SqlDeviceStore(db.db));
  await registry.upsertSite({ id: 'h1', name: '测试医院' });
  await registry.upsert({ id: 'MR-1', site: 'h1', modality: 'MR', vendor: 'Siemens', model: 'Avanto', installDate: '2019-05-01', location: { department: '放射科', floor: '1', room: '105' } }, 'api');
  const rules = new RuleSet(join(dir.path, 'packs'), logger);
  expect(await rules.load()).toMatchObject({ ok: true });
  let clock = T0;
  const engine = new RuleEngine({ rules, registry, repository: new AlertRepository(db.db), logger, ...(options.silences && { silences: options.silences }) });
  const service = new WorkOrderService({ store: new SqlWorkOrderStore(db.db), registry, rules, logger, now: () => clock, settings: { cooldownMs: 6 * HOUR } });
  engine.onTransition((alert, transitions) => void service.onAlert(alert, transitions));
  const feed = async (samples: Sample[]) => {
    engine.onSamples(samples);
    await service.idle();
  };
  return { engine, service, feed, setClock: (t: number) => (clock = t) };
}

const helium = (from: number, values: number[], stepMs = MIN): Sample[] => values.map((value, i) => ({ deviceId: 'MR-1', metric: 'helium_level_pct', ts: from + i * stepMs, value }));

describe('work orders opened by alerts', () => {
  it('one per fault: firing again adds to the timeline, escalation raises the grade, resolution is suggested but a person resolves', async () => {
    const { service, feed, setClock } = await setup();
    await feed(helium(T0, [59]));
    let [wo] = await service.list({});
    expect(wo).toMatchObject({ channel: 'auto', kind: 'corrective', status: 'new', grade: 'general', faultType: 'cryogenics', identity: 'MR-1/helium-low', reportedBy: 'system' });
    expect(wo!.number).toMatch(/^WO-202611-0001$/);
    expect(wo!.device).toMatchObject({ vendor: 'Siemens', model: 'Avanto', installDate: '2019-05-01', location: { department: '放射科', room: '105' } });
    expect(wo!.title).toBe('MR-1 液氦 59%');
    // Escalates to severe: same work order, grade raised.
    setClock(T0 + 5 * MIN);
    await feed(helium(T0 + MIN, [49]));
    expect(await service.list({})).toHaveLength(1);
    [wo] = await service.list({});
    expect(wo!.grade).toBe('severe');
    // Resolves: suggested, not resolved.
    setClock(T0 + 10 * MIN);
    await feed(helium(T0 + 2 * MIN, [80]));
    [wo] = await service.list({});
    expect(wo).toMatchObject({ status: 'new', alertState: 'resolved', resolutionSuggestedAt: T0 + 10 * MIN });
    // Fires again while the work order is still open: added to it.
    await feed(helium(T0 + 3 * MIN, [58]));
    expect(await service.list({})).toHaveLength(1);
    const timeline = await service.timeline(wo!.id);
    expect(timeline.map((e) => e.kind)).toEqual(['created', 'alert_escalated', 'alert_resolved', 'alert_refired']);
  });

  it('a cooldown after closing keeps a flapping fault from opening new work orders; after it a new one opens', async () => {
    const { service, feed, setClock } = await setup();
    await feed(helium(T0, [59]));
    const [wo] = await service.list({});
    for (const action of ['acknowledge', 'respond', 'start', 'resolve', 'close'] as const) {
      await service.transition(wo!.number, { action, mode: 'remote', resolution: '补充液氦', satisfaction: 5 }, 'engineer-li');
    }
    setClock(T0 + HOUR);
    await feed(helium(T0 + MIN, [80, 59]));
    expect(await service.list({})).toHaveLength(1);
    expect((await service.timeline(wo!.id)).at(-1)?.kind).toBe('suppressed_refire');
    setClock(T0 + 8 * HOUR);
    await feed(helium(T0 + 3 * MIN, [80, 59]));
    const all = await service.list({});
    expect(all).toHaveLength(2);
    expect(all[0]!.number).toBe('WO-202611-0002');
  });

  it('a resolved work order whose fault fires again goes back to in progress', async () => {
    const { service, feed } = await setup();
    await feed(helium(T0, [59]));
    const [wo] = await service.list({});
    for (const action of ['acknowledge', 'respond', 'start', 'resolve'] as const) await service.transition(String(wo!.id), { action, mode: 'on_site', resolution: '更换液位计' }, 'engineer-li');
    await feed(helium(T0 + MIN, [80, 59]));
    const [again] = await service.list({});
    expect(again).toMatchObject({ id: wo!.id, status: 'in_progress' });
    expect(again!.resolvedAt).toBeUndefined();
  });

  it('a forecast opens a planned work order due before the earliest crossing', async () => {
    const { service, feed } = await setup();
    // Falling 3 %/day from 75 %, every 30 min for two days: 50 % is ≈ 6 days ahead.
    await feed(helium(T0, Array.from({ length: 96 }, (_, i) => 75 - (3 * i) / 48), 30 * MIN));
    const planned = (await service.list({})).find((w) => w.kind === 'planned');
    expect(planned).toMatchObject({ grade: 'severe', identity: 'MR-1/helium-forecast', faultType: 'cryogenics' });
    expect(planned!.plannedDueAt! - (T0 + 2 * DAY)).toBeGreaterThan(3 * DAY);
    expect(planned!.plannedDueAt! - (T0 + 2 * DAY)).toBeLessThan(7 * DAY);
    expect(service.clocks(planned!).map((c) => c.name)).toEqual(['planned']);
  });

  it('silenced alerts open no work order; the rule’s fault type sets the repair target', async () => {
    const silences: SilenceLookup = { activeFor: (target) => (target.ruleId === 'helium-low' ? { id: 'maintenance' } : undefined) };
    const { service, feed } = await setup({ silences });
    await feed(helium(T0, [59]));
    expect(await service.list({})).toEqual([]);
    await feed([{ deviceId: 'MR-1', metric: 'shield_temp_k', ts: T0 + MIN, value: 65 }]);
    const [wo] = await service.list({});
    expect(wo).toMatchObject({ faultType: 'detector', grade: 'severe' });
    expect(service.clocks(wo!).find((c) => c.name === 'repair')?.dueAt).toBe(wo!.reportedAt + 48 * HOUR);
  });
});

describe('people move work orders', () => {
  it('only allowed transitions succeed, each is audited, and clocks breach on wall time', async () => {
    const { service, setClock } = await setup();
    setClock(T0);
    const wo = await service.create(
      { deviceId: 'MR-1', channel: 'hotline', grade: 'emergency', title: '磁体失超风险', phenomenon: '氦压力持续升高', reporter: { name: '王工', phone: '13800000000', department: '设备科' } },
      'dispatcher-zhang',
    );
    expect(wo).toMatchObject({ channel: 'hotline', reporter: { name: '王工', department: '设备科' }, reportedBy: 'dispatcher-zhang' });
    const error = await service.transition(wo.number, { action: 'close', satisfaction: 5 }, 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkOrderError);
    expect(error).toMatchObject({ status: 409, details: { status: 'new', allowedActions: ['notify', 'acknowledge', 'cancel'] } });
    await expect(service.transition(wo.number, { action: 'cancel' }, 'x')).rejects.toMatchObject({ status: 400, code: 'note_required' });
    // Notified after 30 s; nobody acknowledges: after 5½ minutes the acknowledge clock breaches.
    setClock(T0 + 30_000);
    await service.transition(wo.number, { action: 'notify' }, 'dispatcher-zhang');
    setClock(T0 + 6 * MIN);
    const breaches = await service.checkBreaches();
    expect(breaches.map((b) => b.clock.name)).toEqual(['acknowledge']);
    expect(await service.checkBreaches()).toEqual([]);
    setClock(T0 + 7 * MIN);
    await service.assign(wo.number, 'engineer-li', 'supervisor-chen');
    await service.transition(wo.number, { action: 'acknowledge', note: '已接单' }, 'engineer-li');
    const after = await service.get(wo.number);
    expect(after).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'engineer-li', handoverConfirmedAt: T0 + 7 * MIN });
    const timeline = await service.timeline(wo.id);
    expect(timeline.map((e) => `${e.kind}:${e.actor}:${e.from ?? ''}>${e.to ?? ''}`)).toEqual([
      'created:dispatcher-zhang:>new',
      'transition:dispatcher-zhang:new>notified',
      'clock_breached:system:>',
      'assigned:supervisor-chen:>',
      'transition:engineer-li:notified>acknowledged',
    ]);
  });
});
