import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cutToBytes,
  renderEmail,
  renderMarkdown,
  renderSms,
  renderWebhookBody,
  sampleNotification,
  sampleWorkOrder,
  smsCapacity,
  TRUNCATION_MARK,
  utf8Bytes,
  WECOM_MARKDOWN_MAX_BYTES,
} from '../../src/notify/templates.js';
import type { Notification, NotificationEvent, NotificationItem, WorkOrderFacts } from '../../src/notify/types.js';

const AT = Date.UTC(2026, 10, 30, 0, 15, 0); // 2026-11-30 08:15 in Shanghai
const EVENTS: NotificationEvent[] = ['opened', 'escalated', 'reopened', 'recovered', 'resolved', 'digest', 'test'];
const CALLS: NotificationEvent[] = ['opened', 'escalated', 'reopened'];
const CJK = /[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]/;
/** Chinese that comes from the data (site, department, a resolution), not from the template. */
const DATA_ZH = ['烟台市中心医院', '放射科', '张伟', '冷头更换后液氦液位回升至 72%，已补充液氦'];

const sample = (event: NotificationEvent, extra: Partial<Parameters<typeof sampleNotification>[0]> = {}) => sampleNotification({ event, at: AT, ...extra });
const md = (n: Notification, maxBytes = WECOM_MARKDOWN_MAX_BYTES) => renderMarkdown(n, { maxBytes });
const withoutData = (text: string) => DATA_ZH.reduce((t, d) => t.split(d).join(''), text);
const count = (text: string, part: string) => text.split(part).length - 1;

function single(wo: Partial<WorkOrderFacts>, n: Partial<Notification> = {}, item: Partial<NotificationItem> = {}): Notification {
  const base = sample('opened');
  const first = base.items[0]!;
  return { ...base, ...n, items: [{ ...first, ...item, workOrder: { ...first.workOrder, ...wo } }] };
}

describe('every event in both languages', () => {
  for (const event of EVENTS) {
    for (const language of ['zh-CN', 'en'] as const) {
      it(`${event} · ${language}: markdown, e-mail, SMS and webhook say what happened`, () => {
        const n = sample(event, { language });
        const text = md(n).text;
        const mail = renderEmail(n);
        const sms = renderSms(n, 70, 3);
        const body = renderWebhookBody(n);
        const wo = n.items[0]!.workOrder;
        for (const out of [text, mail.text, mail.html, sms]) expect(out).toContain(wo.number);
        expect(body.event).toBe(event);
        expect(body.items.map((i) => i.workOrder.number)).toEqual(n.items.map((i) => i.workOrder.number));

        if (language === 'en') {
          // English only: no Chinese but what the data itself is written in.
          for (const out of [text, mail.subject, mail.text, sms]) expect(withoutData(out)).not.toMatch(CJK);
        } else {
          expect(text).toMatch(CJK);
          // Chinese first, English second.
          const zhAt = text.search(CJK);
          const enAt = text.search(/\*\*\[(Emergency|Minor|Recovered|Resolved|Test message|Digest)\]/);
          expect(enAt).toBeGreaterThan(zhAt);
          expect(mail.text.indexOf('————————————————')).toBeGreaterThan(0);
        }

        const calls = CALLS.includes(event);
        const ackUrl = n.items[0]!.ackUrl;
        if (calls) {
          expect(ackUrl).toBeDefined();
          expect(text).toContain(ackUrl!);
          expect(mail.text).toContain(ackUrl!);
          expect(sms).toContain(ackUrl!);
          expect(body.items[0]!.links.acknowledge).toBe(ackUrl);
          expect(text).toContain(language === 'zh-CN' ? '一键确认' : 'Acknowledge');
        } else if (event !== 'digest') {
          expect(text).not.toContain('一键确认');
          expect(text).not.toMatch(/\[Acknowledge\]/);
          expect(body.items[0]!.links.acknowledge).toBeUndefined();
        }
        expect(text).toContain(n.items[0]!.workOrderUrl);
      });
    }
  }

  it('a call to act: grade in 【】, scanner with its id, hospital, department/floor/room, grade, value, forecast, number, deadlines', () => {
    const n = sample('opened');
    const text = md(n).text;
    const zh = text.slice(0, text.indexOf('**[Emergency]'));
    expect(zh.split('\n')[0]).toBe('**【紧急事件】新故障工单 WO-202611-0042**');
    expect(zh).toContain('**设备**：MR · Siemens MAGNETOM Skyra（mr-yt-01）');
    expect(zh).toContain('**医院**：烟台市中心医院');
    expect(zh).toContain('**科室/楼层/房间**：放射科 / B1 / MR-2');
    expect(zh).toContain('**等级**：<font color="warning">紧急</font>');
    expect(zh).toContain('**数值**：39.6 %');
    expect(zh).toContain('**预测**：按当前消耗速率，液氦预计约 4 天后降至 30%');
    expect(zh).toContain('**工单号**：WO-202611-0042');
    // Deadlines in Shanghai time, the zone named once per language.
    expect(zh).toContain('> 通知负责人截止：2026-11-30 08:16');
    expect(zh).toContain('> 负责人响应截止：2026-11-30 08:21');
    expect(zh).toContain('> 到场或远程连接截止：2026-11-30 08:45');
    expect(count(zh, 'Asia/Shanghai')).toBe(1);
    expect(count(md(sample('opened', { language: 'en' })).text, 'Asia/Shanghai')).toBe(1);
  });

  it('grades read 紧急 / 严重 / 一般 / 轻微 with the full name in 【】', () => {
    const expected = { emergency: ['紧急事件', '紧急'], severe: ['严重故障', '严重'], general: ['一般故障', '一般'], minor: ['轻微故障', '轻微'] } as const;
    for (const [grade, [full, short]] of Object.entries(expected)) {
      const text = md(single({ grade: grade as WorkOrderFacts['grade'] })).text;
      expect(text.split('\n')[0]).toContain(`【${full}】`);
      expect(text).toContain(`**等级**：<font color="warning">${short}</font>`);
    }
  });

  it('deadlines are local to the site: Berlin in summer is UTC+2, and the zone is shown once', () => {
    const at = Date.UTC(2026, 6, 1, 10, 0, 0);
    const n = single({ timeZone: 'Europe/Berlin', faultAt: at, reportedAt: at, deadlines: [{ name: 'respond', label: { zh: '到场或远程连接', en: 'on site or connected remotely' }, dueAt: at + 30 * 60_000 }] }, { language: 'en' });
    const text = md(n).text;
    expect(text).toContain('> Fault at: 2026-07-01 12:00');
    expect(text).toContain('> On site or connected remotely by: 2026-07-01 12:30');
    expect(count(text, 'Europe/Berlin')).toBe(1);
    const body = renderWebhookBody(n);
    expect(body.items[0]!.workOrder.faultAt).toEqual({ utc: '2026-07-01T10:00:00.000Z', local: '2026-07-01 12:00' });
    expect(body.items[0]!.workOrder.deadlines[0]!.dueAt).toEqual({ utc: '2026-07-01T10:30:00.000Z', local: '2026-07-01 12:30' });
  });

  it('an escalation step says nobody acknowledged, and for how long', () => {
    const n = sample('opened', { level: 1 });
    const text = md(n).text;
    expect(text).toContain('**升级通知（第 1 级）：5 分钟无人确认，请立即处理**');
    expect(text).toContain('**Escalation (level 1): nobody has acknowledged for 5 min, please act now**');
    expect(renderEmail(n).subject).toMatch(/^\[第 1 级升级\] 【紧急事件】/);
    expect(renderSms(n, 70, 3)).toContain('无人确认（第1级升级）');
    expect(md(sample('opened')).text).not.toContain('升级通知');
    // Measured from the first notice: notified 12 minutes before the notification was made.
    const later = single({ notifiedAt: AT }, { level: 2, createdAt: AT + 12 * 60_000 });
    expect(md(later).text).toContain('升级通知（第 2 级）：12 分钟无人确认');
  });

  it('escalated and reopened say so in their heading', () => {
    expect(md(sample('escalated')).text.split('\n')[0]).toBe('**【紧急事件】故障升级为紧急事件 WO-202611-0042**');
    expect(md(sample('reopened')).text.split('\n')[0]).toBe('**【紧急事件】故障复发，工单重新打开 WO-202611-0042**');
  });

  it('recovered informs (已恢复) with the recovery time; resolved (已解决) carries the resolution', () => {
    const recovered = md(sample('recovered')).text;
    expect(recovered.split('\n')[0]).toBe('**【已恢复】紧急事件 WO-202611-0042**');
    expect(recovered).toContain('> 恢复时间：2026-11-30 08:55');
    expect(recovered).not.toContain('截止');
    const resolved = sample('resolved');
    const text = md(resolved).text;
    expect(text.split('\n')[0]).toBe('**【已解决】紧急事件 WO-202611-0042**');
    expect(text).toContain('**处理结果**：冷头更换后液氦液位回升至 72%，已补充液氦');
    expect(text).toContain('> 解决时间：2026-11-30 09:50');
    expect(renderEmail(resolved).text).toContain('处理结果：冷头更换后液氦液位回升至 72%，已补充液氦');
    expect(renderSms(resolved, 70, 3)).toMatch(/^【已解决】紧急/);
  });

  it('a test message says it is one and asks nothing', () => {
    const n = sampleNotification({ at: AT });
    expect(n.event).toBe('test');
    const text = md(n).text;
    expect(text).toContain('【测试消息】');
    expect(text).toContain('guardian notify test');
    expect(n.items[0]!.ackUrl).toBeUndefined();
    expect(renderSms(n, 70, 1)).toMatch(/^【测试消息】/);
  });
});

describe('the byte limit of robot markdown', () => {
  const longTitle = `${'液氦压力异常波动😀'.repeat(700)}尾`;
  const n = single({ title: longTitle, phenomenon: `${longTitle}\nhelium pressure swings` }, { recipient: { id: 'zhang-wei', name: '张伟', handle: 'ZhangWei' } });

  it('cuts at a line, never inside a character, and keeps heading, links and mention', () => {
    const full = renderMarkdown(n, { maxBytes: 1_000_000, mention: '<@ZhangWei>' });
    expect(full.truncated).toBe(false);
    expect(utf8Bytes(full.text)).toBeGreaterThan(WECOM_MARKDOWN_MAX_BYTES);
    const cut = renderMarkdown(n, { maxBytes: WECOM_MARKDOWN_MAX_BYTES, mention: '<@ZhangWei>' });
    expect(cut.truncated).toBe(true);
    expect(utf8Bytes(cut.text)).toBeLessThanOrEqual(WECOM_MARKDOWN_MAX_BYTES);
    expect(cut.text.isWellFormed()).toBe(true);
    expect(Buffer.from(cut.text, 'utf8').toString('utf8')).toBe(cut.text);
    const lines = cut.text.split('\n');
    expect(lines[0]).toBe('**【紧急事件】新故障工单 WO-202611-0042**');
    expect(lines).toContain(TRUNCATION_MARK);
    expect(lines.at(-1)).toBe('<@ZhangWei>');
    expect(lines.at(-2)).toContain(n.items[0]!.ackUrl!);
    // Every kept line is a whole line of the full message.
    const fullLines = new Set(full.text.split('\n'));
    for (const line of lines) if (line !== TRUNCATION_MARK) expect(fullLines.has(line)).toBe(true);
    // The over-long fault line went; the lines before it stayed.
    expect(cut.text).not.toContain('液氦压力异常波动');
  });

  it('keeps as many lines as fit: a limit between two line ends keeps the first', () => {
    const normal = sample('opened', { language: 'en' });
    const full = md(normal, 1_000_000).text;
    const lines = full.split('\n');
    for (const limit of [utf8Bytes(full) - 1, utf8Bytes(full) - 150, utf8Bytes(full) - 300]) {
      const cut = md(normal, limit);
      expect(cut.truncated).toBe(true);
      expect(utf8Bytes(cut.text)).toBeLessThanOrEqual(limit);
      const kept = cut.text.split('\n');
      // The facts kept are a prefix of the full message's facts.
      const bodyKept = kept.slice(1, kept.indexOf('… (too long, cut short)'));
      expect(bodyKept).toEqual(lines.slice(1, 1 + bodyKept.length));
      // …and the next line would not have fitted.
      const next = lines[1 + bodyKept.length]!;
      expect(utf8Bytes(cut.text) + utf8Bytes(next) + 1).toBeGreaterThan(limit);
    }
  });

  it('cutToBytes: the longest prefix within the limit, between characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.integer({ min: 0, max: 400 }), (text, max) => {
        const cut = cutToBytes(text, max);
        expect(text.startsWith(cut)).toBe(true);
        expect(utf8Bytes(cut)).toBeLessThanOrEqual(max);
        expect(cut.isWellFormed()).toBe(true);
        if (cut !== text) {
          const next = String.fromCodePoint(text.codePointAt(cut.length)!);
          expect(utf8Bytes(cut) + utf8Bytes(next)).toBeGreaterThan(max);
        }
      }),
    );
  });

  it('DingTalk: its own title, blank lines between lines, the same limit rule', () => {
    const n2 = sample('opened');
    const out = renderMarkdown(n2, { maxBytes: 20_000, flavour: 'dingtalk', mention: '@13800000000' });
    expect(out.title).toBe('【紧急事件】新故障工单 WO-202611-0042 烟台市中心医院');
    expect(out.text).toContain('**等级**：**紧急**');
    expect(out.text).not.toContain('<font');
    expect(out.text).toContain('\n\n**医院**：烟台市中心医院\n\n');
    expect(out.text.endsWith('\n\n@13800000000')).toBe(true);
  });
});

describe('digests', () => {
  const digest = (count: number, language: 'zh-CN' | 'en' = 'zh-CN') => sampleNotification({ event: 'digest', count, at: AT, language });

  it('list every work order on a line of its own', () => {
    const n = digest(3);
    const text = md(n).text;
    expect(text.split('\n')[0]).toBe('**【工单汇总】共 3 个工单**');
    for (const item of n.items) {
      const line = text.split('\n').find((l) => l.includes(item.workOrder.number))!;
      expect(line).toContain('【轻微故障】');
      expect(line).toContain(item.workOrder.title.replace(/</g, '＜'));
      expect(line).toContain(item.ackUrl!);
      expect(line).toContain(item.workOrderUrl);
    }
    const mail = renderEmail(n);
    expect(mail.subject).toBe('【工单汇总】共 3 个工单');
    for (const item of n.items) expect(mail.text).toContain(item.workOrder.number);
    expect(renderWebhookBody(n).items).toHaveLength(3);
  });

  it('over the byte limit keep every work-order number and cut detail instead', () => {
    for (const size of [30, 60, 150, 220]) {
      const n = digest(size);
      const out = md(n);
      expect(utf8Bytes(out.text)).toBeLessThanOrEqual(WECOM_MARKDOWN_MAX_BYTES);
      expect(out.truncated).toBe(true);
      expect(out.text).toContain(TRUNCATION_MARK);
      for (const item of n.items) expect(out.text).toContain(item.workOrder.number);
      // One line each.
      for (const item of n.items) expect(out.text.split('\n').filter((l) => l.includes(item.workOrder.number))).toHaveLength(1);
    }
    // A small digest is not cut at all.
    expect(md(digest(3)).truncated).toBe(false);
    // More detail where there is room: 30 keep links, 220 only numbers.
    expect(md(digest(30)).text).toContain('](https://');
  });

  it('beyond what even bare numbers fit, says how many more there are', () => {
    const n = digest(400);
    const out = md(n);
    expect(utf8Bytes(out.text)).toBeLessThanOrEqual(WECOM_MARKDOWN_MAX_BYTES);
    const shown = n.items.filter((i) => out.text.includes(i.workOrder.number)).length;
    const more = Number(/另有 (\d+) 个工单/.exec(out.text)?.[1]);
    expect(shown).toBeGreaterThan(100);
    expect(shown + more).toBe(400);
  });

  it('an SMS digest names as many numbers as fit', () => {
    const sms = renderSms(digest(40), 70, 3);
    expect(sms.length).toBeLessThanOrEqual(smsCapacity(70, 3));
    expect(sms).toMatch(/^【工单汇总】40 个工单：WO-202611-0042、/);
    expect(sms.endsWith('等')).toBe(true);
    expect(renderSms(digest(2), 70, 3)).toBe('【工单汇总】2 个工单：WO-202611-0042、WO-202611-0043');
  });
});

describe('e-mail', () => {
  it('escapes HTML in every text and link', () => {
    const evil = '<script>alert("x")</script> & \'q\'';
    const n = single({ title: evil, phenomenon: evil, siteName: '<b>医院</b>', value: '5 <> 6' }, {}, { ackUrl: 'https://g.example/ack/"><img src=x onerror=alert(1)>', workOrderUrl: 'javascript:alert(1)' });
    const { html, text, subject } = renderEmail(n);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
    expect(html).toContain('&lt;b&gt;医院&lt;/b&gt;');
    expect(html).toContain('href="https://g.example/ack/&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"');
    // Only http(s) links become anchors.
    expect(html).not.toContain('href="javascript:');
    // The text part stays as written.
    expect(text).toContain(evil);
    expect(subject).toContain('<b>医院</b>');
  });

  it('subject and text: Chinese first, English after', () => {
    const { subject, text } = renderEmail(sample('opened'));
    expect(subject).toBe('【紧急事件】新故障工单 WO-202611-0042 · 烟台市中心医院 · MR · Siemens MAGNETOM Skyra');
    expect(text.indexOf('一键确认：https://guardian.example-hospital.cn/ack/SAMPLE-42')).toBeLessThan(text.indexOf('Acknowledge: https://'));
    expect(renderEmail(sample('opened', { language: 'en' })).subject).toBe('[Emergency] New work order WO-202611-0042 · 烟台市中心医院 · MR · Siemens MAGNETOM Skyra');
  });
});

describe('robot markdown does not let data open a tag or a mention', () => {
  it('titles with <@all> or <font> are shown, not obeyed', () => {
    const text = md(single({ title: '<@all> <font color="warning">x</font>\n# heading' })).text;
    expect(text).not.toContain('<@all>');
    expect(text).toContain('＜@all＞');
    expect(text).not.toContain('\n# heading');
  });
});

describe('SMS', () => {
  it('capacity: one segment whole, joined segments 67 of 70 (153 of 160)', () => {
    expect(smsCapacity(70, 1)).toBe(70);
    expect(smsCapacity(70, 3)).toBe(201);
    expect(smsCapacity(160, 2)).toBe(306);
  });

  it('grade, scanner, site and room, value, number and link when there is room', () => {
    const sms = renderSms(sample('opened'), 70, 3);
    expect(sms).toBe('【紧急事件】烟台市中心医院，放射科MR-2，MR · Siemens MAGNETOM Skyra（mr-yt-01），数值39.6 %，工单WO-202611-0042，确认：https://guardian.example-hospital.cn/ack/SAMPLE-42');
    expect(renderSms(sample('opened', { language: 'en' }), 160, 2)).toBe(
      '[Emergency] 烟台市中心医院, 放射科 MR-2, MR · Siemens MAGNETOM Skyra (mr-yt-01), value 39.6 %, WO-202611-0042, ack: https://guardian.example-hospital.cn/ack/SAMPLE-42',
    );
  });

  it('shortened to fit: the scanner name gives way to its id, then the link and the rest to the number', () => {
    const two = renderSms(sample('opened'), 70, 2);
    expect(two.length).toBeLessThanOrEqual(134);
    expect(two).toBe('【紧急事件】烟台市中心医院，放射科MR-2，mr-yt-01，数值39.6 %，工单WO-202611-0042，确认：https://guardian.example-hospital.cn/ack/SAMPLE-42');
    // One segment: the link does not fit; the place, scanner id and value still do.
    expect(renderSms(sample('opened'), 70, 1)).toBe('【紧急事件】烟台市中心医院，放射科MR-2，mr-yt-01，数值39.6 %，工单WO-202611-0042');
    // Tighter still: grade and number stay, the rest in order of importance.
    expect(renderSms(sample('opened'), 40, 1)).toBe('【紧急事件】烟台市中心医院，mr-yt-01，工单WO-202611-0042');
  });

  it('never longer than its segments allow, whatever the data', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 120 }),
        fc.string({ unit: 'grapheme', maxLength: 120 }),
        fc.string({ maxLength: 300 }),
        fc.constantFrom<[number, number]>([70, 1], [70, 2], [70, 3], [160, 1], [160, 3]),
        fc.constantFrom<NotificationEvent>(...EVENTS),
        (site, device, link, [segment, segments], event) => {
          const n = single({ siteName: site, deviceLabel: device }, { event }, { ackUrl: `https://g.example/ack/${link}` });
          const sms = renderSms(n, segment, segments);
          expect(sms.length).toBeLessThanOrEqual(smsCapacity(segment, segments));
          expect(sms.isWellFormed()).toBe(true);
          if (event !== 'digest') expect(sms).toContain('WO-202611-0042');
        },
      ),
    );
  });
});

describe('webhook body', () => {
  it('stable field names, times in UTC with the local text, every item with its links', () => {
    const n = sample('opened');
    const body = renderWebhookBody(n);
    expect(Object.keys(body)).toEqual(['schema', 'event', 'deliveryId', 'level', 'language', 'createdAt', 'recipient', 'title', 'items']);
    expect(body.schema).toBe('remote-guardian.notification.v1');
    expect(body.createdAt).toBe('2026-11-30T00:15:20.000Z');
    expect(body.title).toEqual({ zh: '【紧急事件】新故障工单 WO-202611-0042', en: '[Emergency] New work order WO-202611-0042' });
    expect(body.recipient).toEqual({ id: 'zhang-wei', name: '张伟', handle: 'ZhangWei' });
    const wo = body.items[0]!.workOrder;
    expect(wo.faultAt).toEqual({ utc: '2026-11-30T00:15:00.000Z', local: '2026-11-30 08:15' });
    expect(wo.site).toEqual({ id: 'yantai-central', name: '烟台市中心医院', timeZone: 'Asia/Shanghai' });
    expect(wo.grade).toBe('emergency');
    expect(wo.gradeLabel).toEqual({ zh: '紧急事件', en: 'emergency' });
    expect(wo.deadlines.map((d) => [d.name, d.dueAt.local])).toEqual([
      ['notify', '2026-11-30 08:16'],
      ['acknowledge', '2026-11-30 08:21'],
      ['respond', '2026-11-30 08:45'],
    ]);
    expect(body.items[0]!.links).toEqual({ acknowledge: 'https://guardian.example-hospital.cn/ack/SAMPLE-42', workOrder: 'https://guardian.example-hospital.cn/work-orders/42' });
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);
  });

  it('a digest carries every work order', () => {
    const n = sampleNotification({ event: 'digest', count: 25, at: AT });
    const body = renderWebhookBody(n);
    expect(body.items.map((i) => i.workOrder.number)).toEqual(n.items.map((i) => i.workOrder.number));
    expect(body.title.zh).toBe('【工单汇总】共 25 个工单');
  });
});

describe('samples', () => {
  it('are deterministic for a given time and realistic', () => {
    expect(sampleNotification({ event: 'opened', at: AT })).toEqual(sampleNotification({ event: 'opened', at: AT }));
    const wo = sampleWorkOrder({ at: AT });
    expect(wo.number).toBe('WO-202611-0042');
    expect(wo.grade).toBe('emergency');
    expect(wo.deadlines.map((d) => d.name)).toEqual(['notify', 'acknowledge', 'respond']);
  });

  it('links go under the public URL', () => {
    const n = sampleNotification({ event: 'opened', publicUrl: 'https://guardian.example.cn/', at: AT });
    expect(n.items[0]!.workOrderUrl).toBe('https://guardian.example.cn/work-orders/42');
    expect(n.items[0]!.ackUrl).toBe('https://guardian.example.cn/ack/SAMPLE-42');
  });
});
