import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { notifyApiFixture, notifyInput, SQL_TARGETS, type NotifyApiFixture } from './notify-fixture.js';
import { ROBOT_OK, startHttpReceiver, type HttpReceiver } from '../support/receivers.js';
import type { Target } from '../support/sql-targets.js';

const MINUTE = 60_000;
/** 08:00 in Yantai on 2 December 2026: 张伟's shift, which hands over to 李娜 at 08:30. */
const T0 = Date.parse('2026-12-02T08:00:00+08:00');

type Json = Record<string, unknown>;
const asList = (v: unknown) => v as Json[];

describe.each(SQL_TARGETS)('push API on $name', ({ target: makeTarget }) => {
  let target: Target;
  let receiver: HttpReceiver;
  let f: NotifyApiFixture;

  beforeAll(async () => {
    target = makeTarget();
    receiver = await startHttpReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await target.cleanup();
  });
  beforeEach(async () => {
    receiver.requests.length = 0;
    receiver.respondWith(ROBOT_OK);
    f = await notifyApiFixture({ url: (await target.fresh()).url, notify: notifyInput(receiver.url), start: T0 });
  });
  afterEach(async () => {
    await f.close();
  });

  const onCall = async (query: string, token = f.tokens.engineer) => {
    const r = await f.call(token, 'GET', `/api/oncall?${query}`);
    expect(r.status, r.text).toBe(200);
    return r.body as { site: string; siteName: string; at: string; onCall: Json[]; chains: Json[] };
  };
  const primary = (answer: { onCall: Json[] }) => answer.onCall.find((r) => r.role === 'primary')!;

  describe('GET /api/oncall', () => {
    it('answers who is on call per role across a handover, in the rotation’s zone, with the shift', async () => {
      const before = await onCall('site=h1&at=2026-12-02T08:29:59%2B08:00');
      expect(before).toMatchObject({ site: 'h1', siteName: '烟台市中心医院', at: '2026-12-02T00:29:59.000Z' });
      expect(primary(before)).toEqual({
        role: 'primary',
        person: 'zhang-wei',
        name: '张伟',
        rotation: 'east-primary',
        shift: { start: '2026-12-01T00:30:00.000Z', end: '2026-12-02T00:30:00.000Z' },
      });
      // The other member of the primary rotation backs them up; the supervisor has a rotation of their own.
      expect(before.onCall.find((r) => r.role === 'secondary')).toMatchObject({ person: 'li-na', rotation: 'east-primary' });
      expect(before.onCall.find((r) => r.role === 'supervisor')).toMatchObject({ person: 'wang-fang', name: '王芳', rotation: 'east-supervisor' });
      expect(before.onCall.find((r) => r.role === 'manager')).toEqual({ role: 'manager', missing: 'no manager rotation covers site h1' });

      const after = await onCall('site=h1&at=2026-12-02T08:30:00%2B08:00');
      expect(primary(after)).toMatchObject({ person: 'li-na', name: '李娜', shift: { start: '2026-12-02T00:30:00.000Z', end: '2026-12-03T00:30:00.000Z' } });
      expect(after.onCall.find((r) => r.role === 'secondary')).toMatchObject({ person: 'zhang-wei' });
    });

    it('hands over in Munich at 09:00 local time, whatever the server’s zone; `at` defaults to now', async () => {
      expect(primary(await onCall('site=h2&at=2026-12-02T08:59:00%2B01:00'))).toMatchObject({ person: 'hans', shift: { end: '2026-12-02T08:00:00.000Z' } });
      expect(primary(await onCall('site=h2&at=2026-12-02T08:00:00Z'))).toMatchObject({ person: 'greta', shift: { start: '2026-12-02T08:00:00.000Z' } });
      // Epoch milliseconds and relative times are read like every other time parameter.
      expect((await onCall(`site=h2&at=${Date.parse('2026-12-02T08:00:00Z')}`)).at).toBe('2026-12-02T08:00:00.000Z');
      const now = await onCall('site=h1');
      expect(now.at).toBe(new Date(T0).toISOString());
      expect(primary(now)).toMatchObject({ person: 'zhang-wei' });
      expect((await onCall('site=h1&at=%2B30m')).at).toBe(new Date(T0 + 30 * MINUTE).toISOString());
    });

    it('gives the escalation chain of one grade with each step’s delay, time, channels and people', async () => {
      const answer = await onCall('site=h1&at=2026-12-02T08:20:00%2B08:00&grade=emergency');
      expect(answer.chains).toHaveLength(1);
      const chain = answer.chains[0]!;
      expect(chain).toMatchObject({ grade: 'emergency', gradeLabel: { zh: '紧急事件', en: 'emergency' }, digest: false, repeat: { every: '15m', everyMs: 15 * MINUTE, times: 4 } });
      const steps = asList(chain.steps);
      expect(steps.map((s) => [s.level, s.after, s.afterMs, s.at, s.channels])).toEqual([
        [0, '0m', 0, '2026-12-02T00:20:00.000Z', 'all'],
        [1, '5m', 5 * MINUTE, '2026-12-02T00:25:00.000Z', 'all'],
        [2, '15m', 15 * MINUTE, '2026-12-02T00:35:00.000Z', 'first'],
      ]);
      // Each step resolves its roles at its own time: at 08:35 the handover has made 李娜 primary,
      // but the step at 08:35 names the manager, by person.
      expect(asList(steps[0]!.to)).toEqual([{ ref: 'primary', role: 'primary', person: 'zhang-wei', name: '张伟', rotation: 'east-primary', channels: ['hooks', 'mail'] }]);
      expect(asList(steps[1]!.to).map((t) => [t.ref, t.person, t.channels])).toEqual([
        ['secondary', 'li-na', ['hooks']],
        ['supervisor', 'wang-fang', ['hooks']],
      ]);
      expect(asList(steps[2]!.to)).toEqual([{ ref: 'zhao-lei', person: 'zhao-lei', name: '赵磊', channels: ['hooks'] }]);
    });

    it('gives every grade’s chain, most serious first, with the tender’s defaults where the config names none', async () => {
      const { chains } = await onCall('site=h1&at=2026-12-02T08:20:00%2B08:00');
      expect(chains.map((c) => c.grade)).toEqual(['emergency', 'severe', 'general', 'minor']);
      const severe = chains[1]!;
      expect(asList(severe.steps).map((s) => [s.after, asList(s.to).map((t) => t.person)])).toEqual([
        ['0m', ['zhang-wei']],
        ['15m', ['zhang-wei']],
      ]);
      // At 08:35 (the severe chain's second step) 李娜 is primary, so the secondary is 张伟.
      const general = chains[2]!;
      expect(asList(general.steps).map((s) => [s.after, s.channels])).toEqual([
        ['0m', ['wecom', 'dingtalk', 'webhook', 'email']],
        ['30m', ['wecom', 'dingtalk', 'webhook', 'email']],
      ]);
      expect(asList(asList(general.steps)[0]!.to)[0]!.channels).toEqual(['hooks', 'mail']);
      expect(chains[3]).toMatchObject({ grade: 'minor', digest: true, steps: [] });
    });

    it('limits a hospital token to its own site: its site by default, 403 for another', async () => {
      const own = await onCall('at=2026-12-02T08:00:00%2B08:00', f.tokens.hospital);
      expect(own.site).toBe('h1');
      expect(primary(own)).toMatchObject({ person: 'zhang-wei' });
      expect((await onCall('site=h1', f.tokens.hospital)).site).toBe('h1');
      const other = await f.call(f.tokens.hospital, 'GET', '/api/oncall?site=h2');
      expect(other.status).toBe(403);
      expect(other.body).toMatchObject({ error: 'forbidden' });
      // Staff name the site; one nobody registered is told apart from one nobody covers.
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall')).status).toBe(400);
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall?site=h9')).status).toBe(404);
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall?site=h1&at=2026-12-02T08:00')).status).toBe(400);
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall?site=h1&grade=urgent')).status).toBe(400);
      expect((await f.call(null, 'GET', '/api/oncall?site=h1')).status).toBe(401);
    });
  });

  describe('on-call overrides', () => {
    const leave = { id: 'zw-leave', rotation: 'east-primary', kind: 'leave', from: '2026-12-02T00:00:00+08:00', until: '2026-12-03T00:00:00+08:00', replaces: 'zhang-wei', replacement: 'wang-fang', reason: '病假 / sick leave' };

    it('changes the on-call answer at once, without a restart, and back when removed', async () => {
      expect(primary(await onCall('site=h1'))).toMatchObject({ person: 'zhang-wei' });
      const created = await f.call(f.tokens.supervisor, 'POST', '/api/oncall/overrides', leave);
      expect(created.status, created.text).toBe(201);
      expect(created.headers.location).toBe('/api/oncall/overrides/zw-leave');
      expect(created.body).toEqual({
        id: 'zw-leave',
        rotation: 'east-primary',
        kind: 'leave',
        from: '2026-12-01T16:00:00.000Z',
        until: '2026-12-02T16:00:00.000Z',
        replaces: 'zhang-wei',
        replacement: 'wang-fang',
        replacementName: '王芳',
        reason: '病假 / sick leave',
        createdAt: new Date(T0).toISOString(),
        createdBy: 'supervisor-1',
      });
      expect(primary(await onCall('site=h1'))).toEqual({
        role: 'primary',
        person: 'wang-fang',
        name: '王芳',
        rotation: 'east-primary',
        scheduled: 'zhang-wei',
        override: { id: 'zw-leave', kind: 'leave' },
        shift: { start: '2026-12-01T00:30:00.000Z', end: '2026-12-02T00:30:00.000Z' },
      });
      // It replaces 张伟 only: after the handover 李娜 is on call as scheduled.
      expect(primary(await onCall('site=h1&at=2026-12-02T09:00:00%2B08:00'))).toMatchObject({ person: 'li-na' });
      expect(primary(await onCall('site=h1&at=2026-12-02T09:00:00%2B08:00')).override).toBeUndefined();
      // The chain calls the replacement too.
      const { chains } = await onCall('site=h1&grade=severe');
      expect(asList(asList(chains[0]!.steps)[0]!.to)[0]).toMatchObject({ person: 'wang-fang', scheduled: 'zhang-wei', override: { id: 'zw-leave', kind: 'leave' } });

      const listed = await f.call(f.tokens.engineer, 'GET', '/api/oncall/overrides');
      expect(listed.body).toMatchObject({ total: 1, items: [{ id: 'zw-leave', replacement: 'wang-fang' }] });
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall/overrides?rotation=munich-primary')).body).toEqual({ items: [], total: 0 });

      expect((await f.call(f.tokens.admin, 'DELETE', '/api/oncall/overrides/zw-leave')).status).toBe(204);
      expect(primary(await onCall('site=h1'))).toMatchObject({ person: 'zhang-wei' });
      expect((await f.call(f.tokens.admin, 'DELETE', '/api/oncall/overrides/zw-leave')).status).toBe(404);
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall/overrides')).body).toEqual({ items: [], total: 0 });
    });

    it('lists only overrides not over yet with current=true', async () => {
      expect((await f.call(f.tokens.admin, 'POST', '/api/oncall/overrides', { ...leave, id: 'past', from: '2026-11-01T00:00:00+08:00', until: '2026-11-02T00:00:00+08:00' })).status).toBe(201);
      expect((await f.call(f.tokens.admin, 'POST', '/api/oncall/overrides', leave)).status).toBe(201);
      expect(asList((await f.call(f.tokens.admin, 'GET', '/api/oncall/overrides')).body.items).map((o) => o.id)).toEqual(['past', 'zw-leave']);
      expect(asList((await f.call(f.tokens.admin, 'GET', '/api/oncall/overrides?current=true')).body.items).map((o) => o.id)).toEqual(['zw-leave']);
    });

    it('checks what an override names: 400 with the reason, 409 for an id taken; nothing is stored', async () => {
      const refused = async (body: Json, status: number, error: string, message: string | RegExp) => {
        const r = await f.call(f.tokens.supervisor, 'POST', '/api/oncall/overrides', body);
        expect(r.status, r.text).toBe(status);
        expect(r.body.error).toBe(error);
        expect(r.body.message).toMatch(message);
      };
      await refused({ ...leave, rotation: 'west-primary' }, 400, 'unknown_rotation', 'rotation "west-primary" is not in notify.rotations');
      await refused({ ...leave, replacement: 'nobody' }, 400, 'unknown_person', 'person "nobody" is not in notify.people');
      await refused({ ...leave, replaces: 'ghost' }, 400, 'unknown_person', 'person "ghost" is not in notify.people');
      await refused({ ...leave, replacement: 'zhang-wei' }, 400, 'same_person', 'replacement is the person it replaces');
      await refused({ ...leave, until: leave.from }, 400, 'bad_period', 'until must be after from');
      await refused({ ...leave, from: '2026-12-02T08:00' }, 400, 'bad_request', /body\.from: must be an ISO-8601 time with a zone/);
      await refused({ ...leave, kind: 'vacation' }, 400, 'bad_request', /body\.kind/);
      const { rotation: _r, ...noRotation } = leave;
      await refused(noRotation, 400, 'bad_request', 'body.rotation: is required');
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall/overrides')).body).toEqual({ items: [], total: 0 });
      expect(primary(await onCall('site=h1'))).toMatchObject({ person: 'zhang-wei' });

      expect((await f.call(f.tokens.supervisor, 'POST', '/api/oncall/overrides', leave)).status).toBe(201);
      await refused({ ...leave, replacement: 'li-na' }, 409, 'override_exists', 'override "zw-leave" exists');
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall/overrides')).body).toMatchObject({ total: 1, items: [{ replacement: 'wang-fang' }] });
    });

    it('lets admins and supervisors change overrides, the service roles read them', async () => {
      expect((await f.call(f.tokens.engineer, 'POST', '/api/oncall/overrides', leave)).status).toBe(403);
      expect((await f.call(f.tokens.hospital, 'POST', '/api/oncall/overrides', leave)).status).toBe(403);
      expect((await f.call(f.tokens.hospital, 'GET', '/api/oncall/overrides')).status).toBe(403);
      expect((await f.call(f.tokens.admin, 'POST', '/api/oncall/overrides', leave)).status).toBe(201);
      expect((await f.call(f.tokens.engineer, 'DELETE', '/api/oncall/overrides/zw-leave')).status).toBe(403);
      expect((await f.call(f.tokens.engineer, 'GET', '/api/oncall/overrides')).body).toMatchObject({ total: 1 });
    });
  });

  describe('the delivery log', () => {
    /** Two emergencies at h1 (张伟 on call: webhook and e-mail, the mail server refusing) and a severe one at h2 (Hans: webhook). */
    const sendSome = async () => {
      const a = await f.open('MR-1', 'emergency');
      const b = await f.open('MR-2', 'severe');
      await f.notifier.runOnce();
      await receiver.waitFor(2);
      return { a, b };
    };

    it('lists each message with its attempts, filtered by work order (id or number), person, channel, status and time', async () => {
      const { a, b } = await sendSome();
      const all = await f.call(f.tokens.engineer, 'GET', '/api/notifications');
      expect(all.status, all.text).toBe(200);
      const items = asList(all.body.items);
      expect(all.body.total).toBe(3);
      expect(items.map((d) => [d.workOrderId, d.person, d.channel]).sort()).toEqual(
        [
          [a.id, 'zhang-wei', 'hooks'],
          [a.id, 'zhang-wei', 'mail'],
          [b.id, 'hans', 'hooks'],
        ].sort(),
      );
      const hook = items.find((d) => d.workOrderId === a.id && d.channel === 'hooks')!;
      expect(hook).toMatchObject({ event: 'opened', level: 0, personName: '张伟', channelType: 'webhook', status: 'sent', attempts: 1, responsible: true, digest: false, sentAt: new Date(T0).toISOString() });
      expect(asList(hook.log)).toEqual([{ at: new Date(T0).toISOString(), outcome: 'sent', status: 200, durationMs: expect.any(Number), by: 'api-test' }]);
      // The receiver got it under the delivery id the log shows.
      expect(receiver.requests.map((r) => r.headers['x-guardian-delivery'])).toContain(hook.deliveryId);
      const mail = items.find((d) => d.channel === 'mail')!;
      expect(mail).toMatchObject({ status: 'pending', attempts: 1, channelType: 'email' });
      expect(asList(mail.log)).toEqual([expect.objectContaining({ outcome: 'retry', error: expect.any(String) })]);

      const ids = (r: { body: Json }) => asList(r.body.items).map((d) => `${d.workOrderId}/${d.channel}`).sort();
      expect(ids(await f.call(f.tokens.engineer, 'GET', `/api/notifications?workOrder=${a.number}`))).toEqual([`${a.id}/hooks`, `${a.id}/mail`]);
      expect(ids(await f.call(f.tokens.engineer, 'GET', `/api/notifications?workOrder=${b.id}`))).toEqual([`${b.id}/hooks`]);
      expect(ids(await f.call(f.tokens.engineer, 'GET', '/api/notifications?person=hans'))).toEqual([`${b.id}/hooks`]);
      expect(ids(await f.call(f.tokens.engineer, 'GET', '/api/notifications?channel=mail'))).toEqual([`${a.id}/mail`]);
      expect(ids(await f.call(f.tokens.engineer, 'GET', '/api/notifications?status=sent'))).toEqual([`${a.id}/hooks`, `${b.id}/hooks`]);
      expect(ids(await f.call(f.tokens.engineer, 'GET', '/api/notifications?status=pending&person=zhang-wei'))).toEqual([`${a.id}/mail`]);
      expect(ids(await f.call(f.tokens.engineer, 'GET', `/api/notifications?from=${T0 + 1}`))).toEqual([]);
      expect(ids(await f.call(f.tokens.engineer, 'GET', `/api/notifications?from=${T0}&to=${T0 + 1}`))).toHaveLength(3);
      const page = await f.call(f.tokens.engineer, 'GET', '/api/notifications?limit=1&offset=1');
      expect(page.body.total).toBe(3);
      expect(asList(page.body.items)).toHaveLength(1);

      const unknown = await f.call(f.tokens.engineer, 'GET', '/api/notifications?workOrder=WO-209912-9999');
      expect(unknown.status).toBe(404);
      expect((await f.call(f.tokens.engineer, 'GET', '/api/notifications?status=lost')).status).toBe(400);
      expect((await f.call(f.tokens.hospital, 'GET', '/api/notifications')).status).toBe(403);
    });

    it('shows a work order’s pushes in its detail to the service roles, not to the hospital', async () => {
      const { a } = await sendSome();
      const staff = await f.call(f.tokens.engineer, 'GET', `/api/work-orders/${a.number}`);
      expect(staff.status).toBe(200);
      expect(asList(staff.body.notifications).map((d) => d.channel).sort()).toEqual(['hooks', 'mail']);
      expect(asList(asList(staff.body.notifications).find((d) => d.channel === 'hooks')!.log)[0]).toMatchObject({ outcome: 'sent', status: 200 });
      // The first delivery to the person on call kept the notify clock.
      expect(staff.body.status).toBe('notified');
      const hospital = await f.call(f.tokens.hospital, 'GET', `/api/work-orders/${a.number}`);
      expect(hospital.status).toBe(200);
      expect(hospital.body.notifications).toBeUndefined();
      expect(hospital.body.timeline).toBeDefined();
    });
  });

  describe('POST /api/notify/test', () => {
    it('sends the sample on the channel to the person and answers what the receiver said', async () => {
      const r = await f.call(f.tokens.admin, 'POST', '/api/notify/test', { channel: 'hooks', person: 'li-na' });
      expect(r.status, r.text).toBe(200);
      expect(r.body).toEqual({ channel: 'hooks', person: 'li-na', ok: true, status: 200 });
      const [got] = await receiver.waitFor(1);
      expect(got!.path).toBe('/hooks');
      expect(got!.headers['x-guardian-event']).toBe('test');
      const timestamp = String(got!.headers['x-guardian-timestamp']);
      expect(got!.headers['x-guardian-signature']).toBe(`sha256=${createHmac('sha256', 'webhook-secret-0123456789').update(`${timestamp}.${got!.raw}`).digest('hex')}`);
      expect(got!.json).toMatchObject({ event: 'test', recipient: { id: 'li-na', name: '李娜' } });
    });

    it('answers the receiver’s refusal, and refuses an unknown channel or person', async () => {
      receiver.respondWith({ status: 500, body: 'down for maintenance' });
      const failed = await f.call(f.tokens.admin, 'POST', '/api/notify/test', { channel: 'hooks' });
      expect(failed.status).toBe(200);
      expect(failed.body).toMatchObject({ channel: 'hooks', ok: false, status: 500, retryable: true });
      expect(String(failed.body.error)).toContain('500');
      expect(receiver.requests).toHaveLength(1);

      const channel = await f.call(f.tokens.admin, 'POST', '/api/notify/test', { channel: 'pager' });
      expect(channel.status).toBe(404);
      expect(channel.body).toEqual({ error: 'unknown_channel', message: 'channel "pager" is not in notify.channels' });
      expect((await f.call(f.tokens.admin, 'POST', '/api/notify/test', { channel: 'hooks', person: 'nobody' })).status).toBe(404);
      // E-mail needs an address, which 李娜 has not given.
      const unreachable = await f.call(f.tokens.admin, 'POST', '/api/notify/test', { channel: 'mail', person: 'li-na' });
      expect(unreachable.status).toBe(400);
      expect(unreachable.body.error).toBe('unreachable');
      expect(receiver.requests).toHaveLength(1);
    });

    it('is for the admin only', async () => {
      for (const role of ['supervisor', 'engineer', 'hospital'] as const) {
        expect((await f.call(f.tokens[role], 'POST', '/api/notify/test', { channel: 'hooks' })).status).toBe(403);
      }
      expect(receiver.requests).toHaveLength(0);
    });
  });
});
