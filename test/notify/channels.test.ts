import { createHmac } from 'node:crypto';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DINGTALK_RATE_LIMITED, dingtalkMobile } from '../../src/notify/channels/dingtalk.js';
import { classifySmtpError } from '../../src/notify/channels/email.js';
import { parseRetryAfter } from '../../src/notify/channels/http.js';
import { createChannel, createChannels } from '../../src/notify/channels/index.js';
import { ChannelConfigSchema, type ChannelConfig } from '../../src/notify/channels/schema.js';
import { WECOM_RATE_LIMITED } from '../../src/notify/channels/wecom.js';
import { renderEmail, renderSms, renderWebhookBody, sampleNotification, smsCapacity, utf8Bytes, WECOM_MARKDOWN_MAX_BYTES } from '../../src/notify/templates.js';
import type { Channel, Notification, Recipient } from '../../src/notify/types.js';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../support/receivers.js';

const logger = pino({ level: 'silent' });
const AT = Date.UTC(2026, 10, 30, 0, 15, 0);
const ZHANG: Recipient = { id: 'zhang-wei', name: '张伟', phone: '+86 138-0000-0000', email: 'zhang.wei@example-hospital.cn', handle: 'ZhangWei' };
const notification = (extra: Partial<Notification> = {}): Notification => ({ ...sampleNotification({ event: 'opened', at: AT, recipient: ZHANG, deliveryId: 'd-42-zhang-wei-hooks' }), ...extra });
const channel = (input: Record<string, unknown>, id = 'c'): Channel => createChannel(id, ChannelConfigSchema.parse(input), { logger });

let http: HttpReceiver;
beforeAll(async () => {
  http = await startHttpReceiver();
});
afterAll(async () => {
  await http.close();
});
afterEach(() => {
  http.requests.length = 0;
  http.respondWith({ status: 200, body: { errcode: 0, errmsg: 'ok' } });
});

/** The HTTP answers every HTTP channel must classify alike. */
function commonHttpClassification(make: (url: string, timeout: string) => Channel) {
  it('5xx → retryable', async () => {
    http.respondWith({ status: 502, body: 'bad gateway' });
    const result = await make(`${http.url}/x`, '5s').send(notification());
    expect(result).toMatchObject({ ok: false, retryable: true, status: 502 });
  });

  it('429 with Retry-After in seconds or as a date → retryAfterMs', async () => {
    http.respondWith({ status: 429, headers: { 'retry-after': '7' } });
    expect(await make(`${http.url}/x`, '5s').send(notification())).toMatchObject({ ok: false, retryable: true, status: 429, retryAfterMs: 7_000 });
    http.respondWith({ status: 429, headers: { 'retry-after': new Date(Date.now() + 120_000).toUTCString() } });
    const dated = await make(`${http.url}/x`, '5s').send(notification());
    expect(dated.ok).toBe(false);
    if (!dated.ok) {
      expect(dated.retryAfterMs).toBeGreaterThan(115_000);
      expect(dated.retryAfterMs).toBeLessThanOrEqual(120_000);
    }
  });

  it('a receiver that never answers → timeout, retryable', async () => {
    http.respondWith('hang');
    const started = Date.now();
    const result = await make(`${http.url}/x`, '300ms').send(notification());
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(result).toMatchObject({ ok: false, retryable: true });
    if (!result.ok) expect(result.error).toMatch(/no answer within 300 ms/);
  });

  it('400 → permanent; a redirect is not followed and is permanent', async () => {
    http.respondWith({ status: 400, body: { error: 'bad request' } });
    expect(await make(`${http.url}/x`, '5s').send(notification())).toMatchObject({ ok: false, retryable: false, status: 400 });
    http.respondWith({ status: 301, headers: { location: `${http.url}/elsewhere` } });
    expect(await make(`${http.url}/x`, '5s').send(notification())).toMatchObject({ ok: false, retryable: false, status: 301 });
    expect(http.requests.map((r) => r.path)).toEqual(['/x', '/x']);
  });

  it('a refused connection → retryable', async () => {
    const gone = await startHttpReceiver();
    await gone.close();
    const result = await make(`${gone.url}/x`, '5s').send(notification());
    expect(result).toMatchObject({ ok: false, retryable: true });
    if (!result.ok) expect(result.error).toMatch(/ECONNREFUSED/);
  });

  it('the caller cancelling ends the attempt as retryable', async () => {
    http.respondWith('hang');
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 100);
    const result = await make(`${http.url}/x`, '10s').send(notification(), cancel.signal);
    expect(result).toMatchObject({ ok: false, retryable: true });
  });
}

describe('WeCom robot', () => {
  const wecom = (url = `${http.url}/cgi-bin/webhook/send?key=k-123`, timeout = '5s') => channel({ type: 'wecom', url, timeout }, 'ops-wecom');

  it('posts markdown with the recipient mentioned, and counts errcode 0 as sent', async () => {
    const result = await wecom().send(notification());
    expect(result).toMatchObject({ ok: true, status: 200 });
    const [req] = await http.waitFor(1);
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/cgi-bin/webhook/send');
    expect(req!.query).toEqual({ key: 'k-123' });
    const body = req!.json as { msgtype: string; markdown: { content: string } };
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.content.split('\n')[0]).toBe('**【紧急事件】新故障工单 WO-202611-0042**');
    expect(body.markdown.content.endsWith('\n<@ZhangWei>')).toBe(true);
    expect(body.markdown.content).toContain('https://guardian.example-hospital.cn/ack/SAMPLE-42');
  });

  it('no handle, no mention; a handle that could close the tag is not used', async () => {
    await wecom().send(notification({ recipient: { id: 'li-na', name: '李娜' } }));
    await wecom().send(notification({ recipient: { id: 'x', name: 'x', handle: 'a><@all' } }));
    const [a, b] = await http.waitFor(2);
    for (const r of [a!, b!]) expect((r.json as { markdown: { content: string } }).markdown.content).not.toMatch(/<@/);
  });

  it('stays within 4,096 bytes of UTF-8 as received', async () => {
    const n = notification();
    const wo = n.items[0]!.workOrder;
    const long = { ...n, items: [{ ...n.items[0]!, workOrder: { ...wo, title: '冷头温度持续升高'.repeat(400), phenomenon: '冷头温度持续升高'.repeat(400) } }] };
    await wecom().send(long);
    const [req] = await http.waitFor(1);
    const content = (req!.json as { markdown: { content: string } }).markdown.content;
    expect(utf8Bytes(content)).toBeLessThanOrEqual(WECOM_MARKDOWN_MAX_BYTES);
    expect(content).toContain('…（内容过长，已截断）');
    expect(content).toContain('<@ZhangWei>');
  });

  it('errcode 45009 (rate limited) → retryable after a minute; -1 (busy) → retryable; others permanent', async () => {
    http.respondWith({ status: 200, body: { errcode: WECOM_RATE_LIMITED, errmsg: 'api freq out of limit' } });
    expect(await wecom().send(notification())).toEqual({ ok: false, retryable: true, retryAfterMs: 60_000, status: 200, error: 'errcode 45009: api freq out of limit' });
    http.respondWith({ status: 200, body: { errcode: -1, errmsg: 'system busy' } });
    expect(await wecom().send(notification())).toMatchObject({ ok: false, retryable: true });
    http.respondWith({ status: 200, body: { errcode: 93000, errmsg: 'invalid webhook url' } });
    expect(await wecom().send(notification())).toEqual({ ok: false, retryable: false, status: 200, error: 'errcode 93000: invalid webhook url' });
    http.respondWith({ status: 200, body: '<html>portal</html>' });
    expect(await wecom().send(notification())).toMatchObject({ ok: false, retryable: false });
  });

  commonHttpClassification((url, timeout) => wecom(url, timeout));
});

describe('DingTalk robot', () => {
  const SECRET = 'SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab';
  const ding = (extra: Record<string, unknown> = {}, url = `${http.url}/robot/send?access_token=tok-1`) => channel({ type: 'dingtalk', url, ...extra }, 'ops-ding');

  it('signs: timestamp and sign = base64 HMAC-SHA256(secret, timestamp + "\\n" + secret), URL-encoded', async () => {
    const before = Date.now();
    expect((await ding({ secret: SECRET }).send(notification())).ok).toBe(true);
    const [req] = await http.waitFor(1);
    expect(req!.query.access_token).toBe('tok-1');
    const timestamp = Number(req!.query.timestamp);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Date.now());
    const expected = createHmac('sha256', SECRET).update(`${timestamp}\n${SECRET}`).digest('base64');
    expect(req!.query.sign).toBe(expected);
    // On the wire the signature is URL-encoded: base64's + / = never appear raw.
    const rawSign = /[?&]sign=([^&]*)/.exec(req!.url)![1]!;
    expect(rawSign).toBe(encodeURIComponent(expected));
    expect(rawSign).not.toMatch(/[+/=]/);
  });

  it('without a secret: no timestamp or sign', async () => {
    await ding().send(notification());
    const [req] = await http.waitFor(1);
    expect(req!.query).toEqual({ access_token: 'tok-1' });
  });

  it('markdown with its title, and the recipient mentioned by mobile in at.atMobiles and the text', async () => {
    await ding().send(notification());
    const [req] = await http.waitFor(1);
    const body = req!.json as { msgtype: string; markdown: { title: string; text: string }; at: { atMobiles: string[]; isAtAll: boolean } };
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.title).toBe('【紧急事件】新故障工单 WO-202611-0042 烟台市中心医院');
    expect(body.markdown.text.startsWith('**【紧急事件】新故障工单 WO-202611-0042**\n\n')).toBe(true);
    expect(body.at).toEqual({ atMobiles: ['13800000000'], isAtAll: false });
    expect(body.markdown.text.endsWith('@13800000000')).toBe(true);
  });

  it('a recipient without a phone is not mentioned', async () => {
    await ding().send(notification({ recipient: { id: 'li-na', name: '李娜' } }));
    const [req] = await http.waitFor(1);
    expect((req!.json as { at: { atMobiles: string[] } }).at.atMobiles).toEqual([]);
  });

  it('errcode 130101 (too fast) → retryable after 10 minutes; others permanent', async () => {
    http.respondWith({ status: 200, body: { errcode: DINGTALK_RATE_LIMITED, errmsg: 'send too fast' } });
    expect(await ding().send(notification())).toMatchObject({ ok: false, retryable: true, retryAfterMs: 600_000 });
    http.respondWith({ status: 200, body: { errcode: 310000, errmsg: 'sign not match' } });
    expect(await ding().send(notification())).toMatchObject({ ok: false, retryable: false, error: 'errcode 310000: sign not match' });
  });

  it('mobiles: +86 and separators dropped', () => {
    expect(dingtalkMobile('+86 138-0000-0000')).toBe('13800000000');
    expect(dingtalkMobile('008613800000000')).toBe('13800000000');
    expect(dingtalkMobile('13800000000')).toBe('13800000000');
    expect(dingtalkMobile('+85291234567')).toBe('+85291234567');
    expect(dingtalkMobile('call me')).toBeUndefined();
  });

  commonHttpClassification((url, timeout) => channel({ type: 'dingtalk', url, timeout }));
});

describe('webhook', () => {
  const SECRET = 'whsec-0123456789abcdef';
  const hook = (extra: Record<string, unknown> = {}) => channel({ type: 'webhook', url: `${http.url}/guardian`, ...extra }, 'hooks');

  it('posts the JSON body with event, delivery, timestamp and a signature the receiver can check', async () => {
    const n = notification();
    const before = Math.floor(Date.now() / 1000);
    expect(await hook({ secret: SECRET, headers: { Authorization: 'Bearer abc', 'X-Guardian-Delivery': 'forged' } }).send(n)).toMatchObject({ ok: true, status: 200 });
    const [req] = await http.waitFor(1);
    expect(req!.headers['content-type']).toMatch(/^application\/json/);
    expect(req!.headers['x-guardian-event']).toBe('opened');
    expect(req!.headers['x-guardian-delivery']).toBe('d-42-zhang-wei-hooks');
    expect(req!.headers.authorization).toBe('Bearer abc');
    const timestamp = Number(req!.headers['x-guardian-timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    // Checked as a receiver would: over the raw bytes received.
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${req!.raw}`).digest('hex')}`;
    expect(req!.headers['x-guardian-signature']).toBe(expected);
    expect(req!.json).toEqual(JSON.parse(JSON.stringify(renderWebhookBody(n))));
    // A body changed on the way no longer matches.
    const tampered = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${req!.raw.replace('WO-202611-0042', 'WO-202611-0043')}`).digest('hex')}`;
    expect(tampered).not.toBe(expected);
  });

  it('every attempt of one notification carries the same X-Guardian-Delivery', async () => {
    http.respondWith({ status: 503 });
    const n = notification();
    const h = hook({ secret: SECRET });
    expect((await h.send(n)).ok).toBe(false);
    http.respondWith({ status: 204 });
    expect((await h.send(n)).ok).toBe(true);
    const reqs = await http.waitFor(2);
    expect(reqs.map((r) => r.headers['x-guardian-delivery'])).toEqual(['d-42-zhang-wei-hooks', 'd-42-zhang-wei-hooks']);
  });

  it('without a secret: no signature', async () => {
    await hook().send(notification());
    const [req] = await http.waitFor(1);
    expect(req!.headers['x-guardian-signature']).toBeUndefined();
    expect(req!.headers['x-guardian-event']).toBe('opened');
  });

  commonHttpClassification((url, timeout) => channel({ type: 'webhook', url, timeout }));
});

describe('SMS gateway', () => {
  const tricky: Recipient = { id: 'p', name: 'P', phone: '+8613900000000' };
  /** A notification whose text needs escaping in JSON and in a form. */
  const trickyNotification = () => {
    const n = notification({ recipient: tricky });
    const wo = n.items[0]!.workOrder;
    return { ...n, items: [{ ...n.items[0]!, workOrder: { ...wo, siteName: '烟台"中心"医院 \\ A&B=1 ' } }] };
  };

  it('JSON template: phone and text JSON-escaped, the text one SMS within its segments', async () => {
    const n = trickyNotification();
    const sms = channel({ type: 'sms', url: `${http.url}/send`, headers: { Authorization: 'Bearer s3' }, body: '{"to":"{{phone}}","content":"{{ text }}","sign":"远程守护"}' });
    expect(await sms.send(n)).toMatchObject({ ok: true });
    const [req] = await http.waitFor(1);
    expect(req!.method).toBe('POST');
    expect(req!.headers.authorization).toBe('Bearer s3');
    expect(req!.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = req!.json as { to: string; content: string; sign: string };
    expect(body.to).toBe('+8613900000000');
    expect(body.content).toBe(renderSms(n, 70, 3));
    expect(body.content).toContain('烟台"中心"医院 \\ A&B=1');
    expect(body.sign).toBe('远程守护');
    expect(body.content.length).toBeLessThanOrEqual(smsCapacity(70, 3));
  });

  it('form template: URL-encoded', async () => {
    const n = trickyNotification();
    const sms = channel({ type: 'sms', url: `${http.url}/send`, contentType: 'application/x-www-form-urlencoded', body: 'mobile={{phone}}&msg={{text}}&sig=x' });
    await sms.send(n);
    const [req] = await http.waitFor(1);
    const form = new URLSearchParams(req!.raw);
    expect([...form.keys()]).toEqual(['mobile', 'msg', 'sig']);
    expect(form.get('mobile')).toBe('+8613900000000');
    expect(form.get('msg')).toBe(renderSms(n, 70, 3));
  });

  it('GET: the template is the query string', async () => {
    const n = trickyNotification();
    const sms = channel({ type: 'sms', method: 'GET', url: `${http.url}/api?key=k1`, body: 'mobile={{phone}}&msg={{text}}' });
    await sms.send(n);
    const [req] = await http.waitFor(1);
    expect(req!.method).toBe('GET');
    expect(req!.raw).toBe('');
    expect(req!.query).toEqual({ key: 'k1', mobile: '+8613900000000', msg: renderSms(n, 70, 3) });
  });

  it('the segment limit holds: one segment of 70', async () => {
    const sms = channel({ type: 'sms', url: `${http.url}/send`, maxSegments: 1 });
    await sms.send(notification());
    const [req] = await http.waitFor(1);
    const text = (req!.json as { text: string }).text;
    expect(text.length).toBeLessThanOrEqual(70);
    expect(text).toMatch(/^【紧急事件】/);
    expect(text).toContain('WO-202611-0042');
  });

  it('needs the recipient’s phone: nothing is sent without one', async () => {
    const sms = channel({ type: 'sms', url: `${http.url}/send` });
    const nobody: Recipient = { id: 'li-na', name: '李娜', email: 'li.na@example.cn' };
    expect(sms.canReach(nobody)).toBe(false);
    expect(sms.canReach(ZHANG)).toBe(true);
    expect(await sms.send(notification({ recipient: nobody }))).toMatchObject({ ok: false, retryable: false });
    expect(http.requests).toHaveLength(0);
  });

  it('settings: GET needs a query template; the template must name {{phone}} and {{text}}', () => {
    expect(ChannelConfigSchema.safeParse({ type: 'sms', url: 'https://sms.example.cn/api', method: 'GET' }).success).toBe(false);
    expect(ChannelConfigSchema.safeParse({ type: 'sms', url: 'https://sms.example.cn/send', body: '{"text":"{{text}}"}' }).success).toBe(false);
    expect(ChannelConfigSchema.safeParse({ type: 'sms', url: 'https://sms.example.cn/{{phone}}', body: '{"text":"{{text}}"}' }).success).toBe(true);
  });

  commonHttpClassification((url, timeout) => channel({ type: 'sms', url, timeout }));
});

describe('e-mail', () => {
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    smtp = await startSmtpReceiver({ auth: { user: 'guardian', pass: 'p@ss word' } });
  });
  afterAll(async () => {
    await smtp.close();
  });
  afterEach(() => {
    smtp.mails.length = 0;
  });
  const mailer = (url = smtp.url, timeout = '5s') => channel({ type: 'email', smtp: url, from: '远程守护 <guardian@example-hospital.cn>', timeout }, 'mail');

  it('arrives at the recipient with the Chinese subject RFC 2047-encoded, text and HTML', async () => {
    const n = notification();
    const m = mailer();
    try {
      const result = await m.send(n);
      expect(result).toMatchObject({ ok: true, status: 250 });
      const [mail] = await smtp.waitFor(1);
      const expected = renderEmail(n);
      expect(mail!.to).toEqual(['zhang.wei@example-hospital.cn']);
      expect(mail!.from).toBe('guardian@example-hospital.cn');
      expect(mail!.subject).toBe(expected.subject);
      expect(mail!.rawSubjectHeader).toMatch(/^=\?UTF-8\?[BQ]\?/i);
      expect(mail!.rawSubjectHeader).not.toMatch(/[\u4e00-\u9fff]/);
      expect(mail!.text.trim()).toBe(expected.text.trim());
      expect(mail!.html).toContain('<a href="https://guardian.example-hospital.cn/ack/SAMPLE-42"');
      expect(mail!.headers.get('x-guardian-delivery')).toBe('d-42-zhang-wei-hooks');
    } finally {
      await m.close?.();
    }
  });

  it('SMTP 451 → retryable, 550 → permanent', async () => {
    const m = mailer();
    try {
      smtp.failNext(451, 'Requested action aborted: try again later');
      expect(await m.send(notification())).toMatchObject({ ok: false, retryable: true, status: 451 });
      smtp.failNext(550, 'Mailbox unavailable');
      expect(await m.send(notification())).toMatchObject({ ok: false, retryable: false, status: 550 });
      expect(smtp.mails).toHaveLength(0);
      // The server is fine again: the next attempt goes through.
      expect((await m.send(notification())).ok).toBe(true);
      await smtp.waitFor(1);
    } finally {
      await m.close?.();
    }
  });

  it('wrong credentials → permanent (535)', async () => {
    const port = new URL(smtp.url).port;
    const m = mailer(`smtp://guardian:wrong@127.0.0.1:${port}`);
    try {
      expect(await m.send(notification())).toMatchObject({ ok: false, retryable: false, status: 535 });
    } finally {
      await m.close?.();
    }
  });

  it('no server → retryable', async () => {
    const gone = await startSmtpReceiver();
    await gone.close();
    const m = mailer(gone.url, '2s');
    try {
      const result = await m.send(notification());
      expect(result).toMatchObject({ ok: false, retryable: true });
    } finally {
      await m.close?.();
    }
  });

  it('needs the recipient’s address', async () => {
    const m = mailer();
    const nobody: Recipient = { id: 'li-na', name: '李娜', phone: '13800000001' };
    try {
      expect(m.canReach(nobody)).toBe(false);
      expect(m.canReach(ZHANG)).toBe(true);
      expect(await m.send(notification({ recipient: nobody }))).toMatchObject({ ok: false, retryable: false });
    } finally {
      await m.close?.();
    }
  });

  it('classifies nodemailer errors: reply codes by class, connection failures retryable', () => {
    expect(classifySmtpError(Object.assign(new Error('x'), { responseCode: 421 }))).toMatchObject({ retryable: true, status: 421 });
    expect(classifySmtpError(Object.assign(new Error('x'), { responseCode: 503 }))).toMatchObject({ retryable: true });
    expect(classifySmtpError(Object.assign(new Error('x'), { responseCode: 554 }))).toMatchObject({ retryable: false });
    expect(classifySmtpError(Object.assign(new Error('x'), { code: 'ETIMEDOUT' }))).toMatchObject({ retryable: true });
    expect(classifySmtpError(Object.assign(new Error('x'), { code: 'EENVELOPE' }))).toMatchObject({ retryable: false });
  });
});

describe('channels from settings', () => {
  const settings: Record<string, ChannelConfig> = Object.fromEntries(
    Object.entries({
      'ops-wecom': { type: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k' },
      'ops-ding': { type: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send?access_token=t', secret: 'SECxyz' },
      hooks: { type: 'webhook', url: 'https://ops.example.cn/guardian', perMinute: 100 },
      mail: { type: 'email', smtp: 'smtp://127.0.0.1:1', from: 'guardian@example.cn' },
      sms: { type: 'sms', url: 'https://sms.example.cn/send' },
    }).map(([id, c]) => [id, ChannelConfigSchema.parse(c)]),
  );

  it('one channel per entry, in order, with its type, rate and reach', async () => {
    const channels = createChannels(settings, { logger });
    try {
      expect([...channels.keys()]).toEqual(['ops-wecom', 'ops-ding', 'hooks', 'mail', 'sms']);
      expect([...channels.values()].map((c) => [c.id, c.type, c.perMinute])).toEqual([
        ['ops-wecom', 'wecom', 20],
        ['ops-ding', 'dingtalk', 20],
        ['hooks', 'webhook', 100],
        ['mail', 'email', undefined],
        ['sms', 'sms', undefined],
      ]);
      const bare: Recipient = { id: 'x', name: 'X' };
      expect([...channels.values()].map((c) => c.canReach(bare))).toEqual([true, true, true, false, false]);
      expect([...channels.values()].map((c) => c.canReach(ZHANG))).toEqual([true, true, true, true, true]);
    } finally {
      await Promise.all([...channels.values()].map((c) => c.close?.()));
    }
  });

  it('a channel language overrides the notification’s', async () => {
    const en = createChannel('hooks', ChannelConfigSchema.parse({ type: 'webhook', url: `${http.url}/en` }), { logger, language: 'en' });
    await en.send(notification());
    const [req] = await http.waitFor(1);
    expect((req!.json as { language: string }).language).toBe('en');
  });
});

describe('Retry-After', () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0);
  it('seconds, an HTTP date, or nothing usable', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:30 GMT', now)).toBe(90_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
