/**
 * The notifier end to end on a real database (SQLite, and PostgreSQL when
 * GUARDIAN_TEST_DATABASE_URL is set), real work orders, and real receivers on loopback: who is
 * called, when the chain escalates and when it stops, silences, rate limits, retries, fallback
 * channels, the morning digest, recovery, rotations across a handover in two zones, and two
 * notifiers on one PostgreSQL database sending each message once.
 */
import { createHmac } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/app/log.js';
import { NotifyWorkOrderDesk } from '../../src/app/notify-desk.js';
import type { Grade } from '../../src/kernel/grades.js';
import { createChannels } from '../../src/notify/channels/index.js';
import { Notifier } from '../../src/notify/notifier.js';
import { NotifyService } from '../../src/notify/service.js';
import { NotifySettingsSchema } from '../../src/notify/settings.js';
import { openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { SqlNotificationStore } from '../../src/storage/sql/notification-repository.js';
import { ROBOT_OK, startHttpReceiver, startSmtpReceiver, type ReceivedRequest, type SmtpReceiver } from '../support/receivers.js';
import { alertChange, DATABASES, MIN, openDatabase, T0, transition, workOrderSide } from '../workorders/support.js';

const SECRET = 'webhook-secret-for-the-tests-0123';
const LINK_SECRET = 'link-secret-for-the-tests-0123456789';

interface Body {
  event: string;
  deliveryId: string;
  level: number;
  recipient: { id: string };
  items: Array<{ workOrder: { number: string; grade: Grade }; links: { acknowledge?: string; workOrder: string } }>;
}
const body = (r: ReceivedRequest) => r.json as Body;
const numbers = (requests: readonly ReceivedRequest[]) => requests.flatMap((r) => body(r).items.map((i) => i.workOrder.number));

describe.each(DATABASES)('notifier on $title', ({ skip, dialect, target: makeTarget }) => {
  const target = skip ? undefined : makeTarget();
  const databases: SqlDatabase[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });
  afterAll(async () => {
    for (const db of databases) await db.close();
    await target?.cleanup();
  });

  async function setup(options: { devices?: number; notify?: (hook: string, mail?: string) => Record<string, unknown>; silenced?: () => boolean; smtp?: boolean } = {}) {
    const hook = await startHttpReceiver({ respond: ROBOT_OK });
    closers.push(() => hook.close());
    let smtp: SmtpReceiver | undefined;
    if (options.smtp) {
      smtp = await startSmtpReceiver();
      closers.push(() => smtp!.close());
    }
    const where = await target!.fresh();
    const { sql, registry } = await openDatabase({ fresh: () => Promise.resolve(where), cleanup: () => Promise.resolve() }, options.devices ?? 1);
    databases.push(sql);
    await registry.upsertSite({ id: 'h2', name: 'Klinikum Berlin', timezone: 'Europe/Berlin' });
    await registry.upsert({ id: 'MR-B', site: 'h2', modality: 'MR', vendor: 'Siemens', model: 'Skyra' }, 'api');
    await registry.upsert({ id: 'MR-C', site: 'h2', modality: 'MR', vendor: 'Siemens', model: 'Skyra' }, 'api');
    const side = workOrderSide(sql, registry);
    const now = () => side.clock.now;
    const input = options.notify?.(hook.url, smtp?.url) ?? defaultNotify(hook.url);
    const settings = NotifySettingsSchema.parse(input);
    const logger = silentLogger();
    const makeNotifier = (db: SqlDatabase, consumer?: string) => {
      const store = new SqlNotificationStore(db.db, db.dialect, { now, leaseMs: 60_000, ...(consumer && { consumer }) });
      const channels = createChannels(settings.channels, { logger });
      const desk = new NotifyWorkOrderDesk({ workOrders: side.service, registry, now });
      const notifier = new Notifier({
        settings,
        store,
        desk,
        channels,
        silences: { activeFor: () => (options.silenced?.() ? { id: 'maintenance' } : undefined) },
        siteZone: (site) => registry.getSite(site)?.timezone ?? 'Asia/Shanghai',
        linkSecret: LINK_SECRET,
        publicUrl: () => 'https://guardian.example.cn',
        logger,
        now,
        random: () => 0.5,
      });
      const service = new NotifyService({ settings, store, desk, notifier, channels, linkSecret: LINK_SECRET, now });
      return { notifier, service, store };
    };
    const main = makeNotifier(sql);
    let key = 0;
    const open = async (grade: Grade, options: { deviceId?: string; at?: number } = {}) => {
      const at = options.at ?? side.clock.now;
      await side.service.handleChange(
        alertChange({ ...(options.deviceId && { deviceId: options.deviceId, siteId: options.deviceId.startsWith('MR-B') || options.deviceId === 'MR-C' ? 'h2' : 'h1' }), grade, at, activeAt: at, transitions: [transition('fired', { grade, ts: at })] }),
        { key: `t:${++key}` },
      );
      const all = await side.service.list({ ...(options.deviceId && { device: options.deviceId }) });
      return all[0]!;
    };
    const resolveAlert = async (deviceId = 'MR-1', grade: Grade = 'emergency') => {
      const at = side.clock.now;
      await side.service.handleChange(alertChange({ deviceId, grade, state: 'resolved', at, transitions: [transition('resolved', { grade, ts: at })] }), { key: `t:${++key}` });
    };
    const advance = (ms: number) => (side.clock.now += ms);
    return { hook, smtp, sql, where, registry, side, settings, ...main, makeNotifier, open, resolveAlert, advance };
  }

  /** Zhang and Li share a daily primary rotation at h1 (Zhang on 2026-11-20 from 08:30), Wang supervises, Chen manages. */
  function defaultNotify(hook: string) {
    return {
      channels: { hook: { type: 'webhook', url: `${hook}/hook`, secret: SECRET } },
      people: {
        zhang: { name: '张伟', channels: ['hook'] },
        li: { name: '李娜', channels: ['hook'] },
        wang: { name: '王芳', channels: ['hook'] },
        chen: { name: '陈刚', channels: ['hook'] },
      },
      rotations: [
        { id: 'h1-primary', sites: ['h1'], every: 'daily', handover: '08:30', start: '2026-11-20', members: ['zhang', 'li'] },
        { id: 'h1-supervisor', role: 'supervisor', sites: ['h1'], every: 'weekly', members: ['wang'] },
        { id: 'h1-manager', role: 'manager', sites: ['h1'], every: 'weekly', members: ['chen'] },
        { id: 'h2-primary', sites: ['h2'], zone: 'Europe/Berlin', every: 'daily', handover: '08:00', start: '2026-11-20', members: ['li', 'zhang'] },
      ],
    };
  }

  describe.skipIf(skip)('calls and escalation', () => {
    it('calls the primary at once, signed, and the first delivery starts the acknowledge clock (notified)', async () => {
      const { hook, notifier, open, side, service } = await setup();
      const wo = await open('emergency');
      await notifier.runOnce();
      const [request] = await hook.waitFor(1);
      expect(hook.requests).toHaveLength(1);
      expect(body(request!)).toMatchObject({ event: 'opened', level: 0, recipient: { id: 'zhang' } });
      expect(body(request!).items[0]!.workOrder.number).toBe(wo.number);
      expect(body(request!).items[0]!.links.acknowledge).toMatch(/^https:\/\/guardian\.example\.cn\/ack\//);
      const ts = request!.headers['x-guardian-timestamp'] as string;
      const wanted = createHmac('sha256', SECRET).update(`${ts}.${request!.raw}`).digest('hex');
      expect(request!.headers['x-guardian-signature']).toBe(`sha256=${wanted}`);
      expect(request!.headers['x-guardian-delivery']).toBe(body(request!).deliveryId);
      const fresh = await side.service.get(wo.number);
      expect(fresh).toMatchObject({ status: 'notified', notifiedAt: T0 });
      const timeline = await side.service.timeline(wo.id);
      expect(timeline.at(-1)).toMatchObject({ kind: 'transition', from: 'new', to: 'notified', actor: 'notify:zhang', data: { action: 'notify', channel: 'hook' } });
      const log = await service.deliveries({ workOrderId: wo.id }, { limit: 10, offset: 0 });
      expect(log.items).toHaveLength(1);
      expect(log.items[0]).toMatchObject({ status: 'sent', person: 'zhang', channel: 'hook', level: 0, event: 'opened' });
      expect(log.items[0]!.log.map((a) => a.outcome)).toEqual(['sent']);
    });

    it('escalates an unacknowledged emergency: secondary and supervisor at 5 min, the manager at 15, and repeats until acknowledged', async () => {
      const { hook, notifier, open, advance, side } = await setup();
      const wo = await open('emergency');
      await notifier.runOnce();
      advance(4 * MIN + 59_000);
      await notifier.runOnce();
      expect(hook.requests).toHaveLength(1);
      advance(1_000);
      await notifier.runOnce();
      await hook.waitFor(3);
      expect(hook.requests.slice(1).map((r) => [body(r).level, body(r).recipient.id, body(r).event]).sort()).toEqual([
        [1, 'li', 'escalated'],
        [1, 'wang', 'escalated'],
      ]);
      advance(10 * MIN);
      await notifier.runOnce();
      await hook.waitFor(4);
      expect([body(hook.requests[3]!).level, body(hook.requests[3]!).recipient.id]).toEqual([2, 'chen']);
      // Unanswered: the last level again 15 minutes later.
      advance(15 * MIN);
      await notifier.runOnce();
      await hook.waitFor(5);
      expect([body(hook.requests[4]!).level, body(hook.requests[4]!).recipient.id]).toEqual([3, 'chen']);
      // Acknowledged: nothing more, however long it waits.
      await side.service.transition(wo.number, { action: 'acknowledge' }, 'chen');
      for (let i = 0; i < 4; i++) {
        advance(15 * MIN);
        await notifier.runOnce();
      }
      expect(hook.requests).toHaveLength(5);
    });

    it('calls nobody further once someone acknowledged before the step, and cancels a call still waiting', async () => {
      const { hook, notifier, open, advance, side } = await setup();
      hook.respondWith({ status: 503 });
      const wo = await open('emergency');
      await notifier.runOnce();
      // The first call is waiting for its retry when Zhang acknowledges by phone.
      await side.service.transition(wo.number, { action: 'acknowledge' }, 'zhang');
      hook.respondWith(ROBOT_OK);
      advance(30 * MIN);
      await notifier.runOnce();
      advance(30 * MIN);
      await notifier.runOnce();
      expect(hook.requests.filter((r) => r.headers['x-guardian-event'] !== undefined)).toHaveLength(1);
      expect(notifier.counters().cancelled).toBeGreaterThanOrEqual(2);
    });

    it('a fault that gets worse after someone took it is told at the first level, and escalates no further', async () => {
      const { hook, notifier, open, advance, side } = await setup();
      const wo = await open('general');
      await notifier.runOnce();
      await side.service.transition(wo.number, { action: 'acknowledge' }, 'zhang');
      advance(MIN);
      await side.service.handleChange(alertChange({ grade: 'emergency', at: side.clock.now, transitions: [transition('escalated', { grade: 'emergency', ts: side.clock.now })] }), { key: 'worse' });
      await notifier.runOnce();
      await hook.waitFor(2);
      expect([body(hook.requests[1]!).event, body(hook.requests[1]!).level, body(hook.requests[1]!).recipient.id, body(hook.requests[1]!).items[0]!.workOrder.grade]).toEqual(['escalated', 0, 'zhang', 'emergency']);
      advance(60 * MIN);
      await notifier.runOnce();
      expect(hook.requests).toHaveLength(2);
    });

    it('an acknowledgement racing the escalation step leaves no call after it', async () => {
      const { hook, notifier, open, advance, side, store } = await setup();
      const wo = await open('emergency');
      await notifier.runOnce();
      advance(5 * MIN);
      // The step and the acknowledgement at the same moment.
      const [, acknowledged] = await Promise.all([notifier.runOnce(), side.service.transition(wo.number, { action: 'acknowledge' }, 'zhang')]);
      await notifier.runOnce();
      const level1 = (await store.list({ workOrderId: wo.id }, { limit: 50, offset: 0 })).items.filter((d) => d.level > 0);
      // Either the step lost (no level-1 delivery at all) or it committed first, and then its
      // calls were sent before the acknowledgement or cancelled by it — never sent after it.
      for (const d of level1) {
        if (d.status === 'sent') expect(d.sentAt!).toBeLessThanOrEqual(acknowledged.acknowledgedAt!);
        else expect(d.status).toBe('cancelled');
      }
      advance(60 * MIN);
      await notifier.runOnce();
      expect(hook.requests.filter((r) => body(r).level > 1)).toHaveLength(0);
    });
  });

  describe.skipIf(skip)('silences, rate limits, retries and fallbacks', () => {
    it('a silence holds calls and escalation; its end releases them', async () => {
      let silenced = true;
      const { hook, notifier, open, advance, store } = await setup({ silenced: () => silenced });
      const wo = await open('emergency');
      await notifier.runOnce();
      advance(6 * MIN);
      await notifier.runOnce();
      expect(hook.requests).toHaveLength(0);
      const held = (await store.list({ workOrderId: wo.id }, { limit: 10, offset: 0 })).items;
      expect(held.map((d) => d.status)).toEqual(['pending']);
      expect((await store.attempts(held.map((d) => d.id))).map((a) => a.outcome)).toContain('held');
      silenced = false;
      advance(31_000);
      await notifier.runOnce();
      await hook.waitFor(3);
      expect(hook.requests.map((r) => `${body(r).level}:${body(r).recipient.id}`).sort()).toEqual(['0:zhang', '1:li', '1:wang']);
    });

    it('a channel over its rate limit folds the excess into one digest that names every work order', async () => {
      const { hook, notifier, open } = await setup({
        devices: 10,
        notify: (url) => ({ ...defaultNotify(url), channels: { hook: { type: 'webhook', url: `${url}/hook`, secret: SECRET, perMinute: 3 } } }),
      });
      const opened: string[] = [];
      for (let i = 1; i <= 10; i++) opened.push((await open('general', { deviceId: `MR-${i}` })).number);
      await notifier.runOnce();
      await hook.waitFor(3);
      expect(hook.requests).toHaveLength(3);
      expect(hook.requests.map((r) => body(r).event)).toEqual(expect.arrayContaining(['opened', 'opened', 'digest']));
      const digest = hook.requests.find((r) => body(r).event === 'digest')!;
      expect(body(digest).items).toHaveLength(8);
      expect(digest.headers['x-guardian-delivery']).toMatch(/^digest-/);
      expect(numbers(hook.requests).sort()).toEqual([...opened].sort());
      // The limit is kept: nothing more goes out within the minute.
      await notifier.runOnce();
      expect(hook.requests).toHaveLength(3);
    });

    it('retries 5xx and 429 with back-off, honouring Retry-After, under the same delivery id', async () => {
      const { hook, notifier, open, advance, store } = await setup();
      hook.respondWith({ status: 429, headers: { 'retry-after': '7' } });
      const wo = await open('severe');
      await notifier.runOnce();
      await hook.waitFor(1);
      advance(3_000);
      await notifier.runOnce();
      expect(hook.requests).toHaveLength(1);
      hook.respondWith({ status: 500 });
      advance(4_000);
      await notifier.runOnce();
      await hook.waitFor(2);
      hook.respondWith(ROBOT_OK);
      // Back-off after the second failure: 2 s × 2 (jitter fixed at the middle).
      advance(4_000);
      await notifier.runOnce();
      await hook.waitFor(3);
      const ids = new Set(hook.requests.map((r) => r.headers['x-guardian-delivery']));
      expect(ids.size).toBe(1);
      const [delivery] = (await store.list({ workOrderId: wo.id }, { limit: 5, offset: 0 })).items;
      expect(delivery).toMatchObject({ status: 'sent', attempts: 3 });
      expect((await store.attempts([delivery!.id])).map((a) => [a.outcome, a.status])).toEqual([
        ['retry', 429],
        ['retry', 500],
        ['sent', 200],
      ]);
    });

    it('a permanent failure moves to the person’s next channel, and both are in the log', async () => {
      const { hook, smtp, notifier, open, store } = await setup({
        smtp: true,
        notify: (url, mail) => ({
          ...defaultNotify(url),
          channels: { hook: { type: 'webhook', url: `${url}/hook`, secret: SECRET }, mail: { type: 'email', smtp: mail!, from: 'guardian@example.cn' } },
          people: { zhang: { name: '张伟', email: 'zhang.wei@example.cn', channels: ['hook', 'mail'] }, li: { name: '李娜', channels: ['hook'] } },
          rotations: [{ id: 'h1-primary', sites: ['h1'], every: 'daily', handover: '08:30', start: '2026-11-20', members: ['zhang', 'li'] }],
          escalation: { severe: [{ after: '0m', to: ['primary'], channels: 'first' }] },
        }),
      });
      hook.respondWith({ status: 400, body: 'bad request' });
      const wo = await open('severe');
      await notifier.runOnce();
      await notifier.runOnce();
      const [mail] = await smtp!.waitFor(1);
      expect(mail!.to).toContain('zhang.wei@example.cn');
      expect(mail!.subject).toContain(wo.number);
      const log = (await store.list({ workOrderId: wo.id }, { limit: 5, offset: 0 })).items;
      expect(log.map((d) => [d.channel, d.status]).sort()).toEqual([
        ['hook', 'failed'],
        ['mail', 'sent'],
      ]);
    });
  });

  describe.skipIf(skip)('digest, recovery and rotations', () => {
    it('minor faults wait for the morning digest at 08:30 site time, one message per person', async () => {
      const { hook, notifier, open, advance, side } = await setup({ devices: 2 });
      // T0 is 10:00 in Shanghai: two minor faults that morning.
      const a = await open('minor', { deviceId: 'MR-1' });
      const b = await open('minor', { deviceId: 'MR-2' });
      await notifier.runOnce();
      advance(22 * 60 * MIN + 29 * MIN);
      await notifier.runOnce();
      expect(hook.requests).toHaveLength(0);
      advance(MIN);
      await notifier.runOnce();
      const [digest] = await hook.waitFor(1);
      expect(hook.requests).toHaveLength(1);
      // 08:30 on the 21st is Li's shift, but the digest goes to who was on call when the faults came.
      expect(body(digest!)).toMatchObject({ event: 'digest', recipient: { id: 'zhang' } });
      expect(numbers([digest!]).sort()).toEqual([a.number, b.number].sort());
      expect((await side.service.get(a.number)).status).toBe('notified');
    });

    it('recovery goes to whoever was told of the fault', async () => {
      const { hook, notifier, open, advance, resolveAlert } = await setup();
      await open('emergency');
      await notifier.runOnce();
      await hook.waitFor(1);
      advance(MIN);
      await resolveAlert();
      await notifier.runOnce();
      await hook.waitFor(2);
      expect([body(hook.requests[1]!).event, body(hook.requests[1]!).recipient.id]).toEqual(['recovered', 'zhang']);
      expect(body(hook.requests[1]!).items[0]!.links.acknowledge).toBeUndefined();
    });

    it('calls the person on call across a handover, in each site’s zone', async () => {
      const { hook, notifier, open, side } = await setup({ devices: 2 });
      const shanghai0829 = Date.parse('2026-11-20T00:29:00Z');
      const berlin0759 = Date.parse('2026-11-20T06:59:00Z');
      const cases: Array<[string, number, string]> = [
        ['MR-1', shanghai0829, 'li'],
        ['MR-2', shanghai0829 + MIN, 'zhang'],
        ['MR-B', berlin0759, 'zhang'],
        ['MR-C', berlin0759 + MIN, 'li'],
      ];
      for (const [i, [deviceId, at, person]] of cases.entries()) {
        side.clock.now = at;
        const wo = await open('severe', { deviceId });
        await notifier.runOnce();
        await hook.waitFor(i + 1);
        // The earlier faults' escalations fall due as the clock jumps; this fault's first call is the one to check.
        const call = hook.requests.find((r) => body(r).event === 'opened' && body(r).items[0]!.workOrder.number === wo.number);
        expect(call && body(call).recipient.id).toBe(person);
      }
    });
  });

  describe.skipIf(skip || dialect !== 'postgres')('several engines on one PostgreSQL database', () => {
    it('two notifiers with their own connections send each call once', async () => {
      const { hook, open, makeNotifier, sql, where } = await setup({ devices: 20 });
      // A pool of its own, as another engine process has.
      const other = await openSqlDatabase(where);
      databases.push(other);
      const second = makeNotifier(other, 'engine-b');
      const first = makeNotifier(sql, 'engine-a');
      const opened: string[] = [];
      for (let i = 1; i <= 20; i++) opened.push((await open('severe', { deviceId: `MR-${i}` })).number);
      // Each engine runs one round at a time (kick() serialises them); the two engines at once.
      await Promise.all([first.notifier.runOnce(), second.notifier.runOnce()]);
      await Promise.all([first.notifier.runOnce(), second.notifier.runOnce()]);
      await hook.waitFor(20);
      await new Promise((r) => setTimeout(r, 200));
      expect(hook.requests).toHaveLength(20);
      expect(numbers(hook.requests).sort()).toEqual([...opened].sort());
      expect(new Set(hook.requests.map((r) => r.headers['x-guardian-delivery'])).size).toBe(20);
    });
  });
});

