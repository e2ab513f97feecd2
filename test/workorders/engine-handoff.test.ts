/**
 * The hand-off end to end: the rule engine saves alerts with their changes through the SQL
 * AlertRepository, the outbox consumer opens the work orders — on SQLite and PostgreSQL, with
 * the database failing at the save and at the hand-off.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RuleEngine } from '../../rules/engine.js';
import { RuleSet } from '../../rules/rule-set.js';
import { silentLogger } from '../../src/app/log.js';
import type { AlertStore } from '../../src/kernel/ports/alert-store.js';
import type { SilenceLookup } from '../../src/kernel/ports/silence-lookup.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import type { SqlDatabase } from '../../src/storage/sql/database.js';
import type { WorkOrderStore } from '../../src/workorders/types.js';
import { tempDir, waitFor } from '../helpers.js';
import { DATABASES, DAY, MIN, openDatabase, T0, workOrderSide } from './support.js';

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
  - id: shield-high
    kind: threshold
    metric: shield_temp_k
    direction: above
    fault_type: detector
    levels: { severe: { raise: 60, clear: 55 } }
    message: { zh: "{{device}} 冷屏 {{value}} K", en: "{{device}} shield {{value}} K" }
`;

const helium = (from: number, values: number[], stepMs = MIN): Sample[] => values.map((value, i) => ({ deviceId: 'MR-1', metric: 'helium_level_pct', ts: from + i * stepMs, value }));

describe.each(DATABASES)('alerts reach work orders through the outbox on $title', ({ skip, target: makeTarget }) => {
  const target = skip ? undefined : makeTarget();
  const dir = tempDir();
  const databases: SqlDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.close();
    await target?.cleanup();
    dir.remove();
  });
  mkdirSync(join(dir.path, 'packs'), { recursive: true });
  writeFileSync(join(dir.path, 'packs', 'mr.yaml'), PACK);

  async function setup(options: { silences?: SilenceLookup; wrapAlerts?: (store: AlertStore) => AlertStore; wrapStore?: (store: WorkOrderStore) => WorkOrderStore } = {}) {
    const { sql, registry } = await openDatabase(target!);
    databases.push(sql);
    const clock = {
      get now() {
        return Date.now();
      },
    };
    const side = workOrderSide(sql, registry, { clock: clock as { now: number }, ...(options.wrapStore && { wrapStore: options.wrapStore }), outboxSettings: { retryMinMs: 20, retryMaxMs: 100, pollMs: 60_000 } });
    const rules = new RuleSet(join(dir.path, 'packs'), silentLogger());
    expect(await rules.load()).toMatchObject({ ok: true });
    side.alerts.onChangesSaved(() => side.consumer.wake());
    const engine = new RuleEngine({
      rules,
      registry,
      repository: options.wrapAlerts ? options.wrapAlerts(side.alerts) : side.alerts,
      logger: silentLogger(),
      ...(options.silences && { silences: options.silences }),
    });
    await side.consumer.start();
    const feed = async (samples: Sample[]) => {
      engine.onSamples(samples);
      await engine.settled();
      await side.consumer.drain();
    };
    return { ...side, engine, feed, stop: () => side.consumer.stop() };
  }

  it.skipIf(skip)('a fired alert opens its work order as soon as it is saved; escalation and resolution follow in order', async () => {
    const { service, feed, stop, sql } = await setup();
    try {
      await feed(helium(T0, [59]));
      let [wo] = await service.list({});
      expect(wo).toMatchObject({ identity: 'MR-1/helium-low', kind: 'corrective', grade: 'general', faultType: 'cryogenics', status: 'new', title: 'MR-1 液氦 59%（触发时 2026-11-20 10:00）' });
      await feed(helium(T0 + MIN, [49]));
      await feed(helium(T0 + 2 * MIN, [80]));
      [wo] = await service.list({});
      expect(wo).toMatchObject({ grade: 'severe', alertState: 'resolved' });
      expect((await service.timeline(wo!.id)).map((e) => e.kind)).toEqual(['created', 'alert_escalated', 'alert_resolved']);
      const rows = await sql.db.selectFrom('alert_outbox').select(['identity', 'consumed_at']).execute();
      expect(rows.length).toBeGreaterThanOrEqual(3);
      expect(rows.every((r) => r.consumed_at !== null)).toBe(true);
    } finally {
      await stop();
    }
  });

  it.skipIf(skip)('the alert tells its current value, the work order what was seen at raising and when: the figures never disagree unsaid', async () => {
    const { service, feed, stop, engine, sql } = await setup();
    try {
      await feed(helium(T0, [59]));
      // Lower, still general: the alert's value and message move together; the work order stays.
      await feed(helium(T0 + MIN, [57, 55.5]));
      await engine.flush();
      const alert = engine.list().find((a) => a.ruleId === 'helium-low')!;
      expect(alert.record.lastValue).toBe(55.5);
      expect(alert.message).toEqual({ zh: 'MR-1 液氦 55.5%', en: 'MR-1 helium 55.5%' });
      const stored = await sql.db.selectFrom('alerts').select(['message_zh', 'last_value']).where('rule_id', '=', 'helium-low').executeTakeFirstOrThrow();
      expect(stored).toMatchObject({ message_zh: 'MR-1 液氦 55.5%' });
      const [wo] = await service.list({});
      expect(wo!.title).toBe('MR-1 液氦 59%（触发时 2026-11-20 10:00）');
      expect(wo!.phenomenon).toBe('MR-1 液氦 59%（触发时 2026-11-20 10:00）\nMR-1 helium 59% (at raising, 2026-11-20 10:00)');
      // The figure of the title is the value its timeline records for the raising.
      const [created] = await service.timeline(wo!.id);
      expect(created).toMatchObject({ kind: 'created', data: { value: 59 } });
    } finally {
      await stop();
    }
  });

  it.skipIf(skip)('a forecast opens a planned work order; a silenced alert none; the rule’s fault type reaches the work order', async () => {
    const silences: SilenceLookup = { activeFor: (t) => (t.ruleId === 'helium-low' ? { id: 'maintenance' } : undefined) };
    const { service, feed, stop } = await setup({ silences });
    try {
      // Falling 3 %/day from 75 %, every 30 min for two days: 50 % is ≈ 6 days ahead.
      await feed(helium(T0, Array.from({ length: 96 }, (_, i) => 75 - (3 * i) / 48), 30 * MIN));
      await feed([{ deviceId: 'MR-1', metric: 'shield_temp_k', ts: T0 + 2 * DAY, value: 65 }]);
      const all = await service.list({});
      expect(all.map((w) => w.identity).sort()).toEqual(['MR-1/helium-forecast', 'MR-1/shield-high']);
      const planned = all.find((w) => w.kind === 'planned')!;
      expect(planned.plannedDueAt! - (T0 + 2 * DAY)).toBeGreaterThan(3 * DAY);
      expect(planned.plannedDueAt! - (T0 + 2 * DAY)).toBeLessThan(7 * DAY);
      expect(all.find((w) => w.identity === 'MR-1/shield-high')).toMatchObject({ faultType: 'detector', grade: 'severe' });
    } finally {
      await stop();
    }
  });

  it.skipIf(skip)('the database failing at the save and then at the hand-off still ends with one work order', async () => {
    let saveFailures = 2;
    let storeFailures = 2;
    const { service, engine, stop, consumer } = await setup({
      // The alert store fails twice: nothing of those saves is written; the engine saves alerts and changes again.
      wrapAlerts: (store) => ({
        save: (alerts, changes) => (saveFailures-- > 0 ? Promise.reject(new Error('database is locked')) : store.save(alerts, changes)),
        all: () => store.all(),
      }),
      // Then opening the work order fails twice: the change waits in the outbox and is retried.
      wrapStore: (store) =>
        new Proxy(store, {
          get(target, name, receiver) {
            const value = Reflect.get(target, name, receiver) as unknown;
            if (name !== 'openForIdentity' || typeof value !== 'function') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
            return (...args: unknown[]) => (storeFailures-- > 0 ? Promise.reject(new Error('connection reset')) : (value as (...a: unknown[]) => unknown).apply(target, args));
          },
        }),
    });
    try {
      engine.onSamples(helium(T0, [59]));
      await engine.settled();
      expect(await service.list({})).toEqual([]);
      // Later samples (or the tick) make the engine save again, with the change still in hand.
      engine.onSamples(helium(T0 + MIN, [58.5]));
      await engine.flush();
      engine.onSamples(helium(T0 + 2 * MIN, [58]));
      await engine.flush();
      const [wo] = await waitFor(async () => {
        const list = await service.list({});
        return list.length > 0 && list;
      }, { timeoutMs: 10_000, what: 'the work order' });
      expect(wo).toMatchObject({ identity: 'MR-1/helium-low', status: 'new' });
      expect(await service.list({})).toHaveLength(1);
      expect((await service.timeline(wo!.id)).map((e) => e.kind)).toEqual(['created']);
      expect(saveFailures).toBeLessThan(0);
      expect(consumer.counters().failed).toBe(2);
    } finally {
      await stop();
    }
  });
});
