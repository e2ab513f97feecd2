import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signAckLink } from '../../src/notify/links.js';
import type { WorkOrder } from '../../src/workorders/types.js';
import { LINK_SECRET, notifyApiFixture, notifyInput, SQL_TARGETS, type NotifyApiFixture } from './notify-fixture.js';
import { startHttpReceiver, type HttpReceiver } from '../support/receivers.js';
import type { Target } from '../support/sql-targets.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-02T08:00:00+08:00');

/** A link as the notifier signs it: for this work order and person, working for 72 hours. */
const linkFor = (workOrder: Pick<WorkOrder, 'id'>, person = 'zhang-wei', expiresAt = T0 + 72 * HOUR) => signAckLink(LINK_SECRET, { workOrderId: workOrder.id, person, expiresAt });

/** The token with one character of its signature changed. */
function tamper(token: string): string {
  const i = token.length - 5;
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

describe.each(SQL_TARGETS)('acknowledge links on $name', ({ target: makeTarget }) => {
  let target: Target;
  let receiver: HttpReceiver;
  let f: NotifyApiFixture;
  let wo: WorkOrder;

  beforeAll(async () => {
    target = makeTarget();
    receiver = await startHttpReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await target.cleanup();
  });
  beforeEach(async () => {
    f = await notifyApiFixture({ url: (await target.fresh()).url, notify: notifyInput(receiver.url), start: T0 });
    wo = await f.open('MR-1', 'emergency', '液氦液位 38.5%，低于 40%');
  });
  afterEach(async () => {
    await f.close();
  });

  const page = (method: 'GET' | 'POST', token: string, payload?: unknown, headers?: Record<string, string>) => f.call(null, method, `/ack/${token}`, payload, headers);
  /** The work order and its timeline as stored. */
  const stored = async (w: Pick<WorkOrder, 'number' | 'id'> = wo) => ({ workOrder: await f.workOrders.get(w.number), timeline: await f.workOrders.timeline(w.id) });

  it('GET shows the work order with one Acknowledge button, changes nothing, and is safe to repeat', async () => {
    const before = await stored();
    const token = linkFor(wo);
    for (let i = 0; i < 3; i++) {
      const r = await page('GET', token);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.text).toContain('<html lang="zh-CN">');
      expect(r.text).toContain('确认接单 / Acknowledge');
      for (const shown of [wo.number, '紧急事件 / emergency', 'MR · Siemens MAGNETOM Skyra (MR-1)', '烟台市中心医院', '放射科 · B1 · MR-2', '液氦液位 38.5%，低于 40%', '新建 / new', '确认人：张伟', '2026-12-02 08:00 (Asia/Shanghai)']) {
        expect(r.text).toContain(shown);
      }
      // One form, posting back to this very URL (no action: the page's own), one button.
      expect(r.text.match(/<form\b[^>]*>/g)).toEqual(['<form method="post">']);
      expect(r.text.match(/<button\b/g)).toHaveLength(1);
    }
    expect(await stored()).toEqual(before);
    expect(before.workOrder.status).toBe('new');
    // HEAD (a link preview's probe) changes nothing either.
    expect((await f.app.inject({ method: 'HEAD', url: `/ack/${token}` })).statusCode).toBe(200);
    expect(await stored()).toEqual(before);
  });

  it('is public, never cached, never indexed, sends no referrer, and allows only its own style and a form to this origin', async () => {
    const r = await page('GET', linkFor(wo));
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['referrer-policy']).toBe('no-referrer');
    expect(r.headers['x-robots-tag']).toBe('noindex, nofollow');
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.text).toContain('<meta name="robots" content="noindex, nofollow">');
    const csp = String(r.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("form-action 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toMatch(/script-src/);
    // The one inline style is allowed by its hash, and no other asset is loaded.
    const style = /<style>([^<]*)<\/style>/.exec(r.text)![1]!;
    expect(csp).toContain(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`);
    expect(r.text).not.toMatch(/<script|<link|<img|src=|https?:\/\//);
    // The API's own policy is unchanged for every other route.
    const api = await f.call(f.tokens.admin, 'GET', '/api/sites');
    expect(api.headers['content-security-policy']).toBe("default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'");
  });

  it('escapes what it shows', async () => {
    const nasty = await f.open('CT-1', 'severe', '<script>alert("x")</script> & <b>bold</b>');
    const r = await page('GET', linkFor(nasty));
    expect(r.status).toBe(200);
    expect(r.text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;');
    expect(r.text).not.toContain('<script>');
    expect(r.text).not.toContain('<b>bold');
  });

  it('POST acknowledges as the link’s person, with channel link in the timeline, and stops the escalation', async () => {
    const other = await f.open('CT-1', 'emergency');
    await f.notifier.runOnce();
    f.clock = T0 + 2 * 60_000;
    const r = await page('POST', linkFor(wo), 'confirm=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toContain('已确认接单');
    expect(r.text).toContain(`工单 ${wo.number} 已由 张伟 确认`);
    expect(r.text).toContain('已确认 / acknowledged');
    expect(r.headers['cache-control']).toBe('no-store');
    const { workOrder, timeline } = await stored();
    expect(workOrder).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'zhang-wei', acknowledgedAt: T0 + 2 * 60_000 });
    const last = timeline[timeline.length - 1]!;
    expect(last).toMatchObject({ actor: 'zhang-wei', kind: 'transition', from: 'notified', to: 'acknowledged', data: { action: 'acknowledge', channel: 'link' } });
    // Past the 5-minute step: the work order nobody acknowledged goes to the next level, this one does not.
    f.clock = T0 + 6 * 60_000;
    await f.notifier.runOnce();
    const levels = async (w: WorkOrder) => [...new Set((await f.store.list({ workOrderId: w.id }, { limit: 100, offset: 0 })).items.map((d) => d.level))].sort();
    expect(await levels(other)).toEqual([0, 1]);
    expect(await levels(wo)).toEqual([0]);
  });

  it('works once: a second POST says the link was used and changes nothing', async () => {
    const token = linkFor(wo);
    expect((await page('POST', token)).status).toBe(200);
    const after = await stored();
    f.clock = T0 + 60_000;
    const again = await page('POST', token);
    expect(again.status).toBe(409);
    expect(again.text).toContain('此链接已使用');
    expect(again.text).toContain('由 张伟 使用');
    expect(again.text).not.toContain('<form');
    expect(await stored()).toEqual(after);
    // GET says the same, without the button.
    const shown = await page('GET', token);
    expect(shown.status).toBe(409);
    expect(shown.text).toContain('This link has been used');
    expect(shown.text).not.toContain('<button');
  });

  it('refuses a tampered token (one character changed) with 400 and changes nothing; the real link still works', async () => {
    const token = linkFor(wo);
    const before = await stored();
    for (const bad of [tamper(token), `A${token.slice(1)}`, 'not-a-token', `${token}.x`, 'a'.repeat(560)]) {
      for (const method of ['GET', 'POST'] as const) {
        const r = await page(method, bad);
        expect(r.status, `${method} ${bad}`).toBe(400);
        expect(r.text).toContain('链接无效');
        expect(r.text).not.toContain(wo.number);
      }
    }
    expect(await stored()).toEqual(before);
    expect((await page('GET', token)).status).toBe(200);
  });

  it('refuses an expired link with 410 and changes nothing', async () => {
    const token = linkFor(wo, 'zhang-wei', T0 + HOUR);
    f.clock = T0 + HOUR;
    const before = await stored();
    const shown = await page('GET', token);
    expect(shown.status).toBe(410);
    expect(shown.text).toContain('链接已过期');
    expect(shown.text).toContain(wo.number);
    const pressed = await page('POST', token);
    expect(pressed.status).toBe(410);
    expect(await stored()).toEqual(before);
    expect(before.workOrder.status).toBe('new');
  });

  it('acknowledges only its own work order', async () => {
    const other = await f.open('MR-2', 'emergency');
    const otherBefore = await stored(other);
    // A's link, pressed: A is acknowledged, B untouched.
    expect((await page('POST', linkFor(wo))).status).toBe(200);
    expect((await stored()).workOrder.status).toBe('acknowledged');
    expect(await stored(other)).toEqual(otherBefore);
    // A's signature on a payload naming B is a forgery.
    const [payloadA, signatureA] = linkFor(wo, 'zhang-wei').split('.') as [string, string];
    const payloadB = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payloadA, 'base64url').toString()), w: other.id })).toString('base64url');
    expect((await page('POST', `${payloadB}.${signatureA}`)).status).toBe(400);
    // A body naming another token is never read: the URL's token is the only credential.
    const fresh = linkFor(wo, 'li-na');
    const r = await page('POST', fresh, { token: linkFor(other) });
    expect(r.status).toBe(409);
    expect(await stored(other)).toEqual(otherBefore);
    expect(otherBefore.workOrder.status).toBe('new');
  });

  it('says when the work order was acknowledged already, by someone else, and changes nothing', async () => {
    await f.workOrders.transition(wo.number, { action: 'acknowledge' }, 'li-na');
    const before = await stored();
    const token = linkFor(wo);
    const shown = await page('GET', token);
    expect(shown.status).toBe(409);
    expect(shown.text).toContain('工单已被确认');
    expect(shown.text).toContain(`工单 ${wo.number} 已于 2026-12-02 08:00 (Asia/Shanghai) 由 li-na 确认`);
    expect(shown.text).not.toContain('<form');
    const pressed = await page('POST', token);
    expect(pressed.status).toBe(409);
    expect(pressed.text).toContain('Already acknowledged');
    expect(await stored()).toEqual(before);
    // The link was not spent on it.
    expect(await f.store.linkUse(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).n)).toBeUndefined();
  });

  it('answers 404 for a link to a work order that does not exist', async () => {
    const r = await page('GET', linkFor({ id: 987_654 }));
    expect(r.status).toBe(404);
    expect(r.text).toContain('工单不存在');
    expect((await page('POST', linkFor({ id: 987_654 }))).status).toBe(404);
  });
});
