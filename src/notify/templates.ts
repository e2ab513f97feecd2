/**
 * What a push says: one `Notification` rendered for each channel form — robot markdown (WeCom,
 * DingTalk), e-mail (subject, text, HTML), one short SMS, and the webhook's JSON body.
 *
 * zh-CN messages are Chinese first with the same content in English after it; en messages are
 * English only. Times are the site's local time with its zone named once; the webhook body also
 * gives every time as ISO-8601 UTC.
 *
 * A call to act (opened, escalated, reopened) names the grade in 【】, the scanner, hospital,
 * department / floor / room, value, forecast, work-order number, every running clock's deadline,
 * the recipient's one-tap acknowledge link and the work order's link; an escalation step
 * (level > 0) says nobody has acknowledged. Recovery (已恢复) and resolution (已解决) inform. A
 * digest lists every work order on a line of its own and drops none: over a byte limit it keeps
 * every work-order number and cuts detail instead.
 *
 * Text that people or devices wrote (titles, site names, resolutions) is put on one line and
 * cannot open a tag or a mention in robot markdown; in HTML everything is escaped.
 */
import { formatLocalMinute } from '../kernel/alerts.js';
import { GRADE_LABELS, type Grade } from '../kernel/grades.js';
import type { LocalisedText } from '../kernel/text.js';
import type { Notification, NotificationEvent, NotificationItem, Recipient, WorkOrderFacts } from './types.js';

type Lang = 'zh' | 'en';

/** The marker a message cut to fit ends its kept detail with. */
export const TRUNCATION_MARK = '…（内容过长，已截断）';
const TRUNCATION_MARK_EN = '… (too long, cut short)';

/** WeCom group robots take markdown of at most 4,096 bytes (UTF-8). */
export const WECOM_MARKDOWN_MAX_BYTES = 4_096;
/** DingTalk publishes no byte limit for robot markdown; messages are kept to this so a long digest stays readable. */
export const DINGTALK_MARKDOWN_MAX_BYTES = 16_000;

const MINUTE = 60_000;

// ── Words ──────────────────────────────────────────────────────────────────────────────────────

const WORDS = {
  zh: {
    scanner: '设备',
    hospital: '医院',
    location: '科室/楼层/房间',
    grade: '等级',
    fault: '故障',
    phenomenon: '现象',
    value: '数值',
    forecast: '预测',
    number: '工单号',
    state: '工单状态',
    times: (zone: string) => `时间（${zone}）`,
    faultAt: '故障发生',
    due: (label: string) => `${label}截止`,
    recoveredAt: '恢复时间',
    resolvedAt: '解决时间',
    resolution: '处理结果',
    acknowledgedBy: '确认人',
    ack: '一键确认',
    workOrder: '查看工单',
    ackShort: '确认',
    workOrderShort: '工单',
    colon: '：',
    sep: '，',
  },
  en: {
    scanner: 'Scanner',
    hospital: 'Hospital',
    location: 'Department / floor / room',
    grade: 'Grade',
    fault: 'Fault',
    phenomenon: 'Phenomenon',
    value: 'Value',
    forecast: 'Forecast',
    number: 'Work order',
    state: 'Status',
    times: (zone: string) => `Times (${zone})`,
    faultAt: 'Fault at',
    due: (label: string) => `${capitalise(label)} by`,
    recoveredAt: 'Recovered at',
    resolvedAt: 'Resolved at',
    resolution: 'Resolution',
    acknowledgedBy: 'Acknowledged by',
    ack: 'Acknowledge',
    workOrder: 'Open work order',
    ackShort: 'ack',
    workOrderShort: 'open',
    colon: ': ',
    sep: ', ',
  },
} as const;

/** 紧急 / 严重 / 一般 / 轻微 — the grade as a field shows it. */
const GRADE_SHORT: Readonly<Record<Grade, string>> = { emergency: '紧急', severe: '严重', general: '一般', minor: '轻微' };

function capitalise(text: string): string {
  return text.length === 0 ? text : text[0]!.toUpperCase() + text.slice(1);
}

function gradeTag(grade: Grade, lang: Lang): string {
  return lang === 'zh' ? `【${GRADE_LABELS[grade].zh}】` : `[${capitalise(GRADE_LABELS[grade].en)}]`;
}

function gradeField(grade: Grade, lang: Lang): string {
  return lang === 'zh' ? GRADE_SHORT[grade] : GRADE_LABELS[grade].en;
}

/** Minutes or hours, as an escalation note says how long nobody answered. */
function spell(ms: number, lang: Lang): string {
  const minutes = Math.max(1, Math.round(ms / MINUTE));
  if (minutes < 120) return lang === 'zh' ? `${minutes} 分钟` : `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return lang === 'zh' ? `${hours} 小时` : `${hours} h`;
}

// ── Facts in words ─────────────────────────────────────────────────────────────────────────────

/** One line of text someone wrote: whitespace runs (line breaks too) become one space. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** One line safe inside robot markdown: no tag or mention (`<@…>`, `<font>`) can be opened by it. */
function mdInline(text: string): string {
  return oneLine(text).replace(/</g, '＜').replace(/>/g, '＞');
}

/** A URL as a markdown link target: characters that would end the target are percent-encoded. */
function mdUrl(url: string): string {
  return url.replace(/[\s()<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The work order's fault in the language: the title is Chinese; an alert's phenomenon carries the English under it. */
function faultText(wo: WorkOrderFacts, lang: Lang): string {
  if (lang === 'zh') return wo.title;
  const lines = wo.phenomenon.split('\n');
  return lines.length === 2 && lines[0] === wo.title && lines[1] ? lines[1] : wo.title;
}

/** The phenomenon when it says more than the title (a work order a person opened). */
function extraPhenomenon(wo: WorkOrderFacts): string | undefined {
  const lines = wo.phenomenon.split('\n');
  if (lines[0] === wo.title) return undefined;
  const text = oneLine(wo.phenomenon);
  return text === '' || text === oneLine(wo.title) ? undefined : text;
}

function locationText(wo: WorkOrderFacts): string | undefined {
  const l = wo.location;
  if (!l || (!l.department && !l.floor && !l.room)) return undefined;
  return [l.department, l.floor, l.room].map((p) => (p ? oneLine(p) : '—')).join(' / ');
}

/** Where the work order stands, from its recorded times (the message need not know the state machine's labels). */
function standing(wo: WorkOrderFacts, lang: Lang): string {
  if (wo.resolvedAt !== undefined) return lang === 'zh' ? '已解决' : 'resolved';
  if (wo.status === 'cancelled') return lang === 'zh' ? '已取消' : 'cancelled';
  if (wo.acknowledgedAt !== undefined) return lang === 'zh' ? '已确认' : 'acknowledged';
  return lang === 'zh' ? '待确认' : 'awaiting acknowledgement';
}

/** The opening line of a single-item message: what happened, in 【】, and the work-order number. */
function heading(event: NotificationEvent, wo: WorkOrderFacts, lang: Lang): string {
  const tag = gradeTag(wo.grade, lang);
  const zh = lang === 'zh';
  switch (event) {
    case 'opened':
      return zh ? `${tag}新故障工单 ${wo.number}` : `${tag} New work order ${wo.number}`;
    case 'escalated':
      return zh ? `${tag}故障升级为${GRADE_LABELS[wo.grade].zh} ${wo.number}` : `${tag} Fault escalated to ${GRADE_LABELS[wo.grade].en}, ${wo.number}`;
    case 'reopened':
      return zh ? `${tag}故障复发，工单重新打开 ${wo.number}` : `${tag} Fault back, work order reopened ${wo.number}`;
    case 'recovered':
      return zh ? `【已恢复】${GRADE_LABELS[wo.grade].zh} ${wo.number}` : `[Recovered] ${capitalise(GRADE_LABELS[wo.grade].en)} ${wo.number}`;
    case 'resolved':
      return zh ? `【已解决】${GRADE_LABELS[wo.grade].zh} ${wo.number}` : `[Resolved] ${capitalise(GRADE_LABELS[wo.grade].en)} ${wo.number}`;
    case 'test':
      return TEST_HEADING[lang];
    case 'digest':
      return `${digestHeading(1, lang)} ${wo.number}`;
  }
}

function digestHeading(count: number, lang: Lang): string {
  return lang === 'zh' ? `【工单汇总】共 ${count} 个工单` : `[Digest] ${count} work order${count === 1 ? '' : 's'}`;
}

const TEST_HEADING: Readonly<Record<Lang, string>> = { zh: '【测试消息】远程守护通知通道测试', en: '[Test message] Remote Guardian channel test' };

/** The one work order a message is about; undefined for a digest (any message with other than one item is shown as one). */
function singleItem(n: Notification): NotificationItem | undefined {
  return n.items.length === 1 && n.event !== 'digest' ? n.items[0] : undefined;
}

/** The message's heading: its work order's, or a digest's count (a test without a work order says it is a test). */
function titleOf(n: Notification, lang: Lang): string {
  const single = singleItem(n);
  if (single) return heading(n.event, single.workOrder, lang);
  return n.items.length === 0 && n.event === 'test' ? TEST_HEADING[lang] : digestHeading(n.items.length, lang);
}

/** Lines that come before the facts: an escalation step says nobody answered; a test says it is one. */
function notes(n: Notification, wo: WorkOrderFacts | undefined, lang: Lang): string[] {
  const out: string[] = [];
  if (n.event === 'test') {
    out.push(lang === 'zh' ? '这是一条由 guardian notify test 发出的测试消息，无需处理；以下为示例内容。' : 'A test message sent by guardian notify test; nothing to do. The content below is an example.');
  }
  if (n.level > 0 && wo && n.event !== 'recovered' && n.event !== 'resolved') {
    const since = n.createdAt - (wo.notifiedAt ?? wo.reportedAt);
    const unanswered = since >= 30_000;
    out.push(
      lang === 'zh'
        ? `升级通知（第 ${n.level} 级）：${unanswered ? `${spell(since, lang)}` : ''}无人确认，请立即处理`
        : `Escalation (level ${n.level}): nobody has acknowledged${unanswered ? ` for ${spell(since, lang)}` : ''}, please act now`,
    );
  }
  return out;
}

/** A labelled fact, as each form shows it. */
interface Field {
  readonly label: string;
  readonly value: string;
  /** Shown highlighted where the form can (the grade in robot markdown). */
  readonly strong?: boolean;
}

/** A group of times under one heading that names the zone once. */
interface TimeBlock {
  readonly title: string;
  readonly rows: readonly Field[];
}

interface ItemFacts {
  readonly fields: readonly Field[];
  readonly times: TimeBlock;
}

function itemFacts(event: NotificationEvent, wo: WorkOrderFacts, createdAt: number, lang: Lang): ItemFacts {
  const w = WORDS[lang];
  const fields: Field[] = [];
  fields.push({ label: w.fault, value: faultText(wo, lang) });
  const extra = extraPhenomenon(wo);
  if (extra !== undefined) fields.push({ label: w.phenomenon, value: extra });
  fields.push({ label: w.scanner, value: lang === 'zh' ? `${wo.deviceLabel}（${wo.deviceId}）` : `${wo.deviceLabel} (${wo.deviceId})` });
  fields.push({ label: w.hospital, value: wo.siteName });
  const location = locationText(wo);
  if (location !== undefined) fields.push({ label: w.location, value: location });
  fields.push({ label: w.grade, value: gradeField(wo.grade, lang), strong: true });
  if (wo.value !== undefined) fields.push({ label: w.value, value: wo.value });
  if (wo.forecast !== undefined) fields.push({ label: w.forecast, value: wo.forecast[lang] });
  fields.push({ label: w.number, value: wo.number });
  if (event === 'recovered' || event === 'resolved' || event === 'digest') fields.push({ label: w.state, value: standing(wo, lang) });
  if (event === 'resolved' && wo.resolution) fields.push({ label: w.resolution, value: wo.resolution });
  if ((event === 'recovered' || event === 'resolved') && wo.acknowledgedBy) fields.push({ label: w.acknowledgedBy, value: wo.acknowledgedBy });

  const zone = wo.timeZone;
  const rows: Field[] = [{ label: w.faultAt, value: formatLocalMinute(zone, wo.faultAt) }];
  if (event === 'recovered') rows.push({ label: w.recoveredAt, value: formatLocalMinute(zone, createdAt) });
  if (event === 'resolved' && wo.resolvedAt !== undefined) rows.push({ label: w.resolvedAt, value: formatLocalMinute(zone, wo.resolvedAt) });
  if (event !== 'recovered' && event !== 'resolved') {
    for (const d of wo.deadlines) rows.push({ label: w.due(d.label[lang]), value: formatLocalMinute(zone, d.dueAt) });
  }
  return { fields, times: { title: w.times(zone), rows } };
}

interface Links {
  readonly ack?: string;
  readonly workOrder: string;
}

function linksOf(item: NotificationItem, event: NotificationEvent): Links {
  // An informing message invites no acknowledgement, whatever link it was given.
  const calls = event === 'opened' || event === 'escalated' || event === 'reopened' || event === 'digest';
  return { ...(calls && item.ackUrl !== undefined && { ack: item.ackUrl }), workOrder: item.workOrderUrl };
}

const langsOf = (n: Notification): readonly Lang[] => (n.language === 'zh-CN' ? ['zh', 'en'] : ['en']);

// ── Cutting to a byte limit ────────────────────────────────────────────────────────────────────

/** Bytes of text in UTF-8. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** The longest prefix of `text` within `maxBytes` bytes of UTF-8, cut between characters (never inside one or a surrogate pair). */
export function cutToBytes(text: string, maxBytes: number): string {
  if (utf8Bytes(text) <= maxBytes) return text;
  let used = 0;
  let end = 0;
  for (const ch of text) {
    const size = utf8Bytes(ch);
    if (used + size > maxBytes) break;
    used += size;
    end += ch.length;
  }
  return text.slice(0, end);
}

/**
 * Lines joined by `sep` within `maxBytes`: the head and tail lines always, as many body lines as
 * fit in order, then the truncation mark in place of the rest. When even the head and tail do not
 * fit, the whole text is cut at a character boundary, at a line break where there is one.
 */
function fitLines(head: readonly string[], body: readonly string[], tail: readonly string[], sep: string, maxBytes: number, mark: string): { text: string; truncated: boolean } {
  const full = [...head, ...body, ...tail].join(sep);
  if (utf8Bytes(full) <= maxBytes) return { text: full, truncated: false };
  const kept: string[] = [];
  const fixedBytes = utf8Bytes([...head, mark, ...tail].join(sep));
  let used = fixedBytes;
  for (const line of body) {
    const more = utf8Bytes(line) + utf8Bytes(sep);
    if (used + more > maxBytes) break;
    kept.push(line);
    used += more;
  }
  if (fixedBytes <= maxBytes) return { text: [...head, ...kept, mark, ...tail].join(sep), truncated: true };
  const room = Math.max(0, maxBytes - utf8Bytes(sep + mark));
  const cut = cutToBytes(full, room);
  const atLine = cut.lastIndexOf(sep);
  return { text: `${atLine > 0 ? cut.slice(0, atLine) : cut}${sep}${mark}`, truncated: true };
}

// ── Robot markdown ─────────────────────────────────────────────────────────────────────────────

export type MarkdownFlavour = 'wecom' | 'dingtalk';

export interface MarkdownOptions {
  /** Largest text in UTF-8 bytes: WeCom 4,096. */
  readonly maxBytes: number;
  /** WeCom separates lines with one line break and colours the grade; DingTalk needs a blank line between lines. Default wecom. */
  readonly flavour?: MarkdownFlavour;
  /** A mention kept at the end whatever is cut: WeCom `<@userid>`, DingTalk `@mobile`. */
  readonly mention?: string;
}

export interface RenderedMarkdown {
  /** A plain one-line title (DingTalk shows it in the notification list). */
  readonly title: string;
  readonly text: string;
  /** Whether detail was cut to fit `maxBytes`. */
  readonly truncated: boolean;
}

function mdField(f: Field, lang: Lang, flavour: MarkdownFlavour): string {
  const value = mdInline(f.value);
  const shown = f.strong ? (flavour === 'wecom' ? `<font color="warning">${value}</font>` : `**${value}**`) : value;
  return `**${f.label}**${WORDS[lang].colon}${shown}`;
}

/** The heading and notes of one language: kept whatever is cut. */
function mdHead(n: Notification, wo: WorkOrderFacts, lang: Lang): string[] {
  return [`**${mdInline(heading(n.event, wo, lang))}**`, ...notes(n, wo, lang).map((note) => `**${mdInline(note)}**`)];
}

/** The facts of one language, one a line. */
function mdFacts(n: Notification, wo: WorkOrderFacts, lang: Lang, flavour: MarkdownFlavour): string[] {
  const facts = itemFacts(n.event, wo, n.createdAt, lang);
  const lines = facts.fields.map((f) => mdField(f, lang, flavour));
  lines.push(`**${facts.times.title}**`);
  for (const r of facts.times.rows) lines.push(`> ${r.label}${WORDS[lang].colon}${r.value}`);
  return lines;
}

function mdLinks(links: Links, langs: readonly Lang[]): string {
  const label = (key: 'ack' | 'workOrder') => langs.map((l) => WORDS[l][key]).join(' ');
  const parts: string[] = [];
  if (links.ack !== undefined) parts.push(`[${label('ack')}](${mdUrl(links.ack)})`);
  parts.push(`[${label('workOrder')}](${mdUrl(links.workOrder)})`);
  return parts.join(' · ');
}

/** Detail levels of a digest line: 0 everything … 4 the number alone. */
const DIGEST_DETAIL_LEVELS = 5;

/** A digest line at a detail level: 0 title and links, 1 where and links, 2 number and links, 3 the number as a link, 4 the number. */
function mdDigestLine(item: NotificationItem, lang: Lang, detail: number): string {
  const wo = item.workOrder;
  const w = WORDS[lang];
  if (detail >= 4) return `- ${wo.number}`;
  if (detail === 3) return `- [${wo.number}](${mdUrl(item.workOrderUrl)})`;
  const link = (label: string, url: string) => `[${label}](${mdUrl(url)})`;
  const links = [item.ackUrl !== undefined ? link(w.ackShort, item.ackUrl) : undefined, link(w.workOrderShort, item.workOrderUrl)].filter((x): x is string => x !== undefined).join(' ');
  const tagged = `- ${gradeTag(wo.grade, lang)}${lang === 'zh' ? '' : ' '}${wo.number}`;
  if (detail === 2) return `${tagged} ${links}`;
  const where = [wo.siteName, wo.location?.room, detail === 1 ? wo.deviceId : undefined].filter((x): x is string => Boolean(x)).map(mdInline);
  const parts = [tagged, ...where, ...(detail === 0 ? [mdInline(faultText(wo, lang))] : []), standing(wo, lang)];
  return `${parts.join(' · ')} ${links}`;
}

function renderDigestMarkdown(n: Notification, options: MarkdownOptions, sep: string): RenderedMarkdown {
  const langs = langsOf(n);
  const lang = langs[0]!;
  const title = digestHeading(n.items.length, lang);
  const head = [`**${title}**`];
  const tail = options.mention ? [options.mention] : [];
  const fits = (text: string) => utf8Bytes(text) <= options.maxBytes;

  const full = [...head, ...n.items.map((i) => mdDigestLine(i, lang, 0))];
  for (const other of langs.slice(1)) full.push(`**${digestHeading(n.items.length, other)}**`, ...n.items.map((i) => mdDigestLine(i, other, 0)));
  const whole = [...full, ...tail].join(sep);
  if (fits(whole)) return { title, text: whole, truncated: false };

  // Less detail, never fewer work orders: the first language only, the first k lines at one
  // detail level and the rest at the next, as detailed as fits.
  const mixed = (detail: number, k: number) =>
    [...head, ...n.items.map((item, i) => mdDigestLine(item, lang, i < k ? detail : detail + 1)), TRUNCATION_MARK, ...tail].join(sep);
  for (let detail = 0; detail < DIGEST_DETAIL_LEVELS - 1; detail++) {
    if (!fits(mixed(detail, 0))) continue;
    let lo = 0;
    let hi = n.items.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(mixed(detail, mid))) lo = mid;
      else hi = mid - 1;
    }
    return { title, text: mixed(detail, lo), truncated: true };
  }

  // Even the numbers alone do not fit: as many as fit, and how many more there are.
  const more = (k: number) => (lang === 'zh' ? `- 另有 ${n.items.length - k} 个工单` : `- ${n.items.length - k} more work orders`);
  const some = (k: number) => [...head, ...n.items.slice(0, k).map((i) => mdDigestLine(i, lang, DIGEST_DETAIL_LEVELS - 1)), more(k), TRUNCATION_MARK, ...tail].join(sep);
  let kept = n.items.length;
  while (kept > 0 && !fits(some(kept))) kept -= 1;
  return { title, text: fits(some(kept)) ? some(kept) : cutToBytes(some(0), options.maxBytes), truncated: true };
}

/**
 * Robot markdown of a notification (WeCom's `markdown.content`, DingTalk's `markdown.text` with
 * its `title`), within `maxBytes` bytes of UTF-8: over it, detail is cut at a line and the text
 * says so (…（内容过长，已截断）), keeping the heading, the links and the mention.
 */
export function renderMarkdown(n: Notification, options: MarkdownOptions): RenderedMarkdown {
  const flavour = options.flavour ?? 'wecom';
  const sep = flavour === 'dingtalk' ? '\n\n' : '\n';
  const langs = langsOf(n);
  const single = singleItem(n);
  if (!single) {
    if (n.items.length === 0) {
      const title = titleOf(n, langs[0]!);
      return { title, text: cutToBytes([`**${mdInline(title)}**`, ...(options.mention ? [options.mention] : [])].join(sep), options.maxBytes), truncated: false };
    }
    return renderDigestMarkdown(n, options, sep);
  }
  const wo = single.workOrder;
  const [lang, second] = langs as [Lang, Lang | undefined];
  const title = oneLine(`${heading(n.event, wo, lang)} ${wo.siteName}`);
  // The first language's heading and notes stay at the top, the links and mention at the end;
  // the facts between are cut from the end, so the English block goes before the Chinese facts.
  const head = mdHead(n, wo, lang);
  const body = [...mdFacts(n, wo, lang, flavour), ...(second ? ['', ...mdHead(n, wo, second), ...mdFacts(n, wo, second, flavour)] : [])];
  const tail = [mdLinks(linksOf(single, n.event), langs), ...(options.mention ? [options.mention] : [])];
  const fitted = fitLines(head, body, tail, sep, options.maxBytes, lang === 'zh' ? TRUNCATION_MARK : TRUNCATION_MARK_EN);
  return { title, text: fitted.text, truncated: fitted.truncated };
}

// ── E-mail ─────────────────────────────────────────────────────────────────────────────────────

export interface RenderedEmail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** Only http(s) links become anchors; anything else is shown as text. */
function isWebUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

function subjectOf(n: Notification, lang: Lang): string {
  const single = singleItem(n);
  if (!single) return titleOf(n, lang);
  const wo = single.workOrder;
  const subject = `${heading(n.event, wo, lang)} · ${wo.siteName} · ${wo.deviceLabel}`;
  const prefix = n.level > 0 && n.event !== 'recovered' && n.event !== 'resolved' ? (lang === 'zh' ? `[第 ${n.level} 级升级] ` : `[Escalation ${n.level}] `) : '';
  const full = oneLine(prefix + subject);
  return full.length > 200 ? `${full.slice(0, 199)}…` : full;
}

function textItem(n: Notification, item: NotificationItem, lang: Lang, withHeading: boolean): string[] {
  const wo = item.workOrder;
  const w = WORDS[lang];
  const facts = itemFacts(n.event, wo, n.createdAt, lang);
  const lines: string[] = [];
  if (withHeading) lines.push(heading(n.event, wo, lang));
  lines.push(...notes(n, wo, lang));
  if (withHeading || lines.length > 0) lines.push('');
  for (const f of facts.fields) lines.push(`${f.label}${w.colon}${oneLine(f.value)}`);
  lines.push('', `${facts.times.title}${lang === 'zh' ? '：' : ':'}`);
  for (const r of facts.times.rows) lines.push(`  ${r.label}${w.colon}${r.value}`);
  const links = linksOf(item, n.event);
  lines.push('');
  if (links.ack !== undefined) lines.push(`${w.ack}${w.colon}${links.ack}`);
  lines.push(`${w.workOrder}${w.colon}${links.workOrder}`);
  return lines;
}

function textDigest(n: Notification, lang: Lang): string[] {
  const w = WORDS[lang];
  const lines = [digestHeading(n.items.length, lang), ''];
  for (const item of n.items) {
    const wo = item.workOrder;
    const where = [wo.siteName, locationText(wo), `${wo.deviceLabel} ${wo.deviceId}`].filter((x): x is string => x !== undefined).map(oneLine).join(' · ');
    lines.push(`${gradeTag(wo.grade, lang)}${lang === 'zh' ? '' : ' '}${wo.number} · ${where} · ${oneLine(faultText(wo, lang))} · ${standing(wo, lang)}`);
    if (item.ackUrl !== undefined) lines.push(`  ${w.ack}${w.colon}${item.ackUrl}`);
    lines.push(`  ${w.workOrder}${w.colon}${item.workOrderUrl}`);
  }
  return lines;
}

function htmlItem(n: Notification, item: NotificationItem, lang: Lang): string {
  const wo = item.workOrder;
  const facts = itemFacts(n.event, wo, n.createdAt, lang);
  const w = WORDS[lang];
  const parts: string[] = [];
  parts.push(`<h2 style="margin:0 0 8px;font-size:18px">${escapeHtml(heading(n.event, wo, lang))}</h2>`);
  for (const note of notes(n, wo, lang)) parts.push(`<p style="margin:0 0 8px;color:#b42318;font-weight:bold">${escapeHtml(note)}</p>`);
  const row = (f: Field) =>
    `<tr><th align="left" style="padding:2px 12px 2px 0;white-space:nowrap;vertical-align:top">${escapeHtml(f.label)}</th><td style="padding:2px 0">${f.strong ? `<strong style="color:#b42318">${escapeHtml(oneLine(f.value))}</strong>` : escapeHtml(oneLine(f.value))}</td></tr>`;
  parts.push(`<table style="border-collapse:collapse;margin:0 0 8px">${facts.fields.map(row).join('')}</table>`);
  parts.push(`<p style="margin:8px 0 4px;font-weight:bold">${escapeHtml(facts.times.title)}</p>`);
  parts.push(`<table style="border-collapse:collapse;margin:0 0 8px">${facts.times.rows.map(row).join('')}</table>`);
  parts.push(`<p style="margin:8px 0">${htmlLinks(linksOf(item, n.event), w)}</p>`);
  return parts.join('\n');
}

function htmlLink(label: string, url: string, primary: boolean): string {
  if (!isWebUrl(url)) return `${escapeHtml(label)}: ${escapeHtml(url)}`;
  const style = primary ? 'display:inline-block;padding:6px 14px;background:#1570ef;color:#fff;text-decoration:none;border-radius:4px' : 'color:#1570ef';
  return `<a href="${escapeHtml(url)}" style="${style}">${escapeHtml(label)}</a>`;
}

function htmlLinks(links: Links, w: (typeof WORDS)[Lang]): string {
  const parts: string[] = [];
  if (links.ack !== undefined) parts.push(htmlLink(w.ack, links.ack, true));
  parts.push(htmlLink(w.workOrder, links.workOrder, false));
  return parts.join(' &nbsp; ');
}

function htmlDigest(n: Notification, lang: Lang): string {
  const w = WORDS[lang];
  const rows = n.items.map((item) => {
    const wo = item.workOrder;
    const where = [wo.siteName, locationText(wo), `${wo.deviceLabel} ${wo.deviceId}`].filter((x): x is string => x !== undefined).map(oneLine).join(' · ');
    const links = [item.ackUrl !== undefined ? htmlLink(w.ackShort, item.ackUrl, false) : undefined, htmlLink(w.workOrderShort, item.workOrderUrl, false)].filter(Boolean).join(' ');
    return `<li style="margin:0 0 6px">${escapeHtml(`${gradeTag(wo.grade, lang)}${lang === 'zh' ? '' : ' '}${wo.number}`)} · ${escapeHtml(where)} · ${escapeHtml(oneLine(faultText(wo, lang)))} · ${escapeHtml(standing(wo, lang))} ${links}</li>`;
  });
  return `<h2 style="margin:0 0 8px;font-size:18px">${escapeHtml(digestHeading(n.items.length, lang))}</h2>\n<ul style="padding-left:18px">${rows.join('\n')}</ul>`;
}

/** E-mail of a notification: subject, plain text and HTML; in zh-CN the English follows the Chinese. */
export function renderEmail(n: Notification): RenderedEmail {
  const langs = langsOf(n);
  const single = singleItem(n);
  const textBlocks: string[][] = [];
  const htmlBlocks: string[] = [];
  for (const lang of langs) {
    if (single) {
      textBlocks.push(textItem(n, single, lang, true));
      htmlBlocks.push(htmlItem(n, single, lang));
    } else if (n.items.length > 0) {
      textBlocks.push(textDigest(n, lang));
      htmlBlocks.push(htmlDigest(n, lang));
    } else {
      const h = subjectOf(n, lang);
      textBlocks.push([h, ...notes(n, undefined, lang)]);
      htmlBlocks.push(`<h2>${escapeHtml(h)}</h2>${notes(n, undefined, lang).map((x) => `<p>${escapeHtml(x)}</p>`).join('')}`);
    }
  }
  const footer = langs.map((l) => (l === 'zh' ? '—— 远程守护（自动发送，请勿直接回复）' : '— Remote Guardian (sent automatically, please do not reply)'));
  const text = [...textBlocks.map((b) => b.join('\n')), footer.join('\n')].join('\n\n————————————————\n\n');
  const html = [
    `<!DOCTYPE html><html lang="${n.language === 'zh-CN' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><title>${escapeHtml(subjectOf(n, langs[0]!))}</title></head>`,
    '<body style="font-family:-apple-system,\'PingFang SC\',\'Microsoft YaHei\',Arial,sans-serif;font-size:14px;color:#101828">',
    htmlBlocks.join('\n<hr style="border:none;border-top:1px solid #d0d5dd;margin:16px 0">\n'),
    `<p style="color:#667085;font-size:12px;margin-top:16px">${footer.map(escapeHtml).join('<br>')}</p>`,
    '</body></html>',
  ].join('\n');
  return { subject: subjectOf(n, langs[0]!), text, html };
}

// ── SMS ────────────────────────────────────────────────────────────────────────────────────────

/**
 * Characters one message may take in `maxSegments` segments of `segmentChars`: one segment holds
 * `segmentChars`; joined segments carry a 6-byte header out of their 140, so 67 of 70 UCS-2
 * characters (153 of 160 GSM characters) each.
 */
export function smsCapacity(segmentChars: number, maxSegments: number): number {
  if (maxSegments <= 1) return segmentChars;
  return maxSegments * Math.floor((segmentChars * 134) / 140);
}

/** Characters as SMS counts them (UTF-16 code units: a character outside the BMP takes two). */
export function smsLength(text: string): number {
  return text.length;
}

/** Cuts to `max` UTF-16 units without splitting a surrogate pair, with … when it cut. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  return `${cutToUnits(text, max - 1)}…`;
}

function cutToUnits(text: string, max: number): string {
  let end = 0;
  for (const ch of text) {
    if (end + ch.length > max) break;
    end += ch.length;
  }
  return text.slice(0, end);
}

interface SmsPart {
  readonly text: string;
  /** Kept first when highest; Infinity: always kept (clipped only as a last resort). */
  readonly priority: number;
  /** A shorter form, used when the full one does not fit. */
  readonly short?: string;
}

/**
 * The parts within `capacity`, in their order: the essential ones, then every other part in
 * its short form as priority allows, then full forms where they still fit. So a place or a
 * scanner is shortened before anything is left out.
 */
function fitSms(parts: readonly SmsPart[], sep: string, capacity: number): string {
  const shown: Array<string | undefined> = parts.map((p) => (p.priority === Infinity ? p.text : undefined));
  const render = () => {
    // The first part is the tag (【…】 or […]) and runs straight into the rest.
    const [tag, ...rest] = shown.filter((x): x is string => x !== undefined && x !== '');
    if (tag === undefined) return '';
    if (rest.length === 0) return tag;
    return `${tag}${tag.endsWith('】') ? '' : tag.endsWith(']') ? ' ' : sep}${rest.join(sep)}`;
  };
  const byPriority = parts.map((p, i) => ({ p, i })).filter(({ p }) => p.priority !== Infinity).sort((a, b) => b.p.priority - a.p.priority);
  const tryShow = (i: number, text: string) => {
    const before = shown[i];
    shown[i] = text;
    if (smsLength(render()) > capacity) shown[i] = before;
  };
  for (const { p, i } of byPriority) tryShow(i, p.short ?? p.text);
  for (const { p, i } of byPriority) if (p.short !== undefined && shown[i] !== undefined) tryShow(i, p.text);
  const text = render();
  return smsLength(text) <= capacity ? text : clip(text, capacity);
}

/**
 * One short SMS within `maxSegments` segments of `segmentChars` characters: grade, work-order
 * number and acknowledge link are kept; scanner, site and room, value are shortened or left out
 * to fit (the language's first form only: SMS is short).
 */
export function renderSms(n: Notification, segmentChars: number, maxSegments: number): string {
  const capacity = smsCapacity(segmentChars, maxSegments);
  const lang: Lang = n.language === 'zh-CN' ? 'zh' : 'en';
  const zh = lang === 'zh';
  const sep = zh ? '，' : ', ';
  const single = singleItem(n);
  if (!single) {
    const numbers = n.items.map((i) => i.workOrder.number);
    const title = n.items.length === 0 ? titleOf(n, lang) : zh ? `【工单汇总】${numbers.length} 个工单` : `[Digest] ${numbers.length} work orders`;
    let kept = numbers.length;
    const build = (k: number) => (k === 0 ? title : `${title}${zh ? '：' : ': '}${numbers.slice(0, k).join(zh ? '、' : ', ')}${k < numbers.length ? (zh ? `等` : ' and more') : ''}`);
    while (kept > 0 && smsLength(build(kept)) > capacity) kept -= 1;
    return clip(build(kept), capacity);
  }
  const wo = single.workOrder;
  const links = linksOf(single, n.event);
  const location = [wo.location?.department, wo.location?.room].filter((x): x is string => Boolean(x)).map(oneLine).join(zh ? '' : ' ');
  const escalation = n.level > 0 && n.event !== 'recovered' && n.event !== 'resolved' ? (zh ? `无人确认（第${n.level}级升级）` : `unacknowledged (escalation ${n.level})`) : undefined;
  let tag: string;
  switch (n.event) {
    case 'recovered':
      tag = zh ? `【已恢复】${GRADE_SHORT[wo.grade]}` : `[Recovered] ${GRADE_LABELS[wo.grade].en}`;
      break;
    case 'resolved':
      tag = zh ? `【已解决】${GRADE_SHORT[wo.grade]}` : `[Resolved] ${GRADE_LABELS[wo.grade].en}`;
      break;
    case 'test':
      tag = zh ? `【测试消息】无需处理，示例：${GRADE_SHORT[wo.grade]}` : `[Test] nothing to do, example: ${GRADE_LABELS[wo.grade].en}`;
      break;
    case 'escalated':
      tag = zh ? `【${GRADE_LABELS[wo.grade].zh}】故障升级` : `${gradeTag(wo.grade, lang)} escalated`;
      break;
    case 'reopened':
      tag = zh ? `【${GRADE_LABELS[wo.grade].zh}】故障复发` : `${gradeTag(wo.grade, lang)} reopened`;
      break;
    default:
      tag = gradeTag(wo.grade, lang);
  }
  const parts: SmsPart[] = [
    { text: tag, priority: Infinity },
    ...(escalation ? [{ text: escalation, priority: 90 }] : []),
    { text: oneLine(wo.siteName), priority: 55, short: clip(oneLine(wo.siteName), 8) },
    ...(location ? [{ text: location, priority: 40, short: oneLine(wo.location?.room ?? '') }] : []),
    { text: zh ? `${oneLine(wo.deviceLabel)}（${wo.deviceId}）` : `${oneLine(wo.deviceLabel)} (${wo.deviceId})`, priority: 60, short: wo.deviceId },
    ...(wo.value !== undefined ? [{ text: zh ? `数值${oneLine(wo.value)}` : `value ${oneLine(wo.value)}`, priority: 50 }] : []),
    ...(n.event === 'resolved' && wo.resolution ? [{ text: clip(oneLine(wo.resolution), 40), priority: 20, short: clip(oneLine(wo.resolution), 12) }] : []),
    { text: zh ? `工单${wo.number}` : wo.number, priority: Infinity },
    ...(links.ack !== undefined ? [{ text: zh ? `确认：${links.ack}` : `ack: ${links.ack}`, priority: 100 }] : []),
  ];
  return fitSms(parts, sep, capacity);
}

// ── Webhook ────────────────────────────────────────────────────────────────────────────────────

/** A time in the webhook body: the instant in UTC and the site's local minute. */
export interface WebhookTime {
  readonly utc: string;
  readonly local: string;
}

export interface WebhookItem {
  readonly workOrder: {
    readonly id: number;
    readonly number: string;
    readonly status: string;
    readonly kind: 'corrective' | 'planned';
    readonly grade: Grade;
    readonly gradeLabel: LocalisedText;
    readonly title: string;
    readonly phenomenon: string;
    readonly ruleId?: string;
    readonly value?: string;
    readonly forecast?: LocalisedText;
    readonly site: { readonly id: string; readonly name: string; readonly timeZone: string };
    readonly device: { readonly id: string; readonly label: string };
    readonly location?: { readonly department?: string; readonly floor?: string; readonly room?: string };
    readonly faultAt: WebhookTime;
    readonly reportedAt: WebhookTime;
    readonly notifiedAt?: WebhookTime;
    readonly acknowledgedAt?: WebhookTime;
    readonly acknowledgedBy?: string;
    readonly resolvedAt?: WebhookTime;
    readonly resolution?: string;
    readonly deadlines: ReadonlyArray<{ readonly name: string; readonly label: LocalisedText; readonly dueAt: WebhookTime }>;
  };
  readonly links: { readonly acknowledge?: string; readonly workOrder: string };
}

export interface WebhookBody {
  /** Names this shape; a change that breaks a receiver gets a new version. */
  readonly schema: 'remote-guardian.notification.v1';
  readonly event: NotificationEvent;
  readonly deliveryId: string;
  readonly level: number;
  readonly language: 'zh-CN' | 'en';
  /** When the notification was made, UTC. */
  readonly createdAt: string;
  readonly recipient: { readonly id: string; readonly name: string; readonly handle?: string };
  /** The heading in both languages, e.g. 【紧急事件】新故障工单 WO-202611-0042. */
  readonly title: LocalisedText;
  readonly items: readonly WebhookItem[];
}

function webhookTime(zone: string, at: number): WebhookTime {
  return { utc: new Date(at).toISOString(), local: formatLocalMinute(zone, at) };
}

/** The webhook's JSON body: stable field names, every time as ISO-8601 UTC with the site-local text beside it. */
export function renderWebhookBody(n: Notification): WebhookBody {
  const titleIn = (lang: Lang) => titleOf(n, lang);
  const items = n.items.map((item): WebhookItem => {
    const wo = item.workOrder;
    const z = wo.timeZone;
    const links = linksOf(item, n.event);
    return {
      workOrder: {
        id: wo.id,
        number: wo.number,
        status: wo.status,
        kind: wo.kind,
        grade: wo.grade,
        gradeLabel: GRADE_LABELS[wo.grade],
        title: wo.title,
        phenomenon: wo.phenomenon,
        ...(wo.ruleId !== undefined && { ruleId: wo.ruleId }),
        ...(wo.value !== undefined && { value: wo.value }),
        ...(wo.forecast !== undefined && { forecast: wo.forecast }),
        site: { id: wo.siteId, name: wo.siteName, timeZone: z },
        device: { id: wo.deviceId, label: wo.deviceLabel },
        ...(wo.location !== undefined && { location: wo.location }),
        faultAt: webhookTime(z, wo.faultAt),
        reportedAt: webhookTime(z, wo.reportedAt),
        ...(wo.notifiedAt !== undefined && { notifiedAt: webhookTime(z, wo.notifiedAt) }),
        ...(wo.acknowledgedAt !== undefined && { acknowledgedAt: webhookTime(z, wo.acknowledgedAt) }),
        ...(wo.acknowledgedBy !== undefined && { acknowledgedBy: wo.acknowledgedBy }),
        ...(wo.resolvedAt !== undefined && { resolvedAt: webhookTime(z, wo.resolvedAt) }),
        ...(wo.resolution !== undefined && { resolution: wo.resolution }),
        deadlines: wo.deadlines.map((d) => ({ name: d.name, label: d.label, dueAt: webhookTime(z, d.dueAt) })),
      },
      links: { ...(links.ack !== undefined && { acknowledge: links.ack }), workOrder: links.workOrder },
    };
  });
  return {
    schema: 'remote-guardian.notification.v1',
    event: n.event,
    deliveryId: n.deliveryId,
    level: n.level,
    language: n.language,
    createdAt: new Date(n.createdAt).toISOString(),
    recipient: { id: n.recipient.id, name: n.recipient.name, ...(n.recipient.handle !== undefined && { handle: n.recipient.handle }) },
    title: { zh: titleIn('zh'), en: titleIn('en') },
    items,
  };
}

// ── A sample ───────────────────────────────────────────────────────────────────────────────────

export interface SampleOptions {
  /** Default `test`: what `guardian notify test` sends. */
  readonly event?: NotificationEvent;
  readonly language?: 'zh-CN' | 'en';
  readonly level?: number;
  readonly grade?: Grade;
  readonly recipient?: Recipient;
  /** Base of the links; default https://guardian.example-hospital.cn. */
  readonly publicUrl?: string;
  /** When the fault happened (epoch ms); default now for a test, 2026-11-30 08:15 Asia/Shanghai otherwise. */
  readonly at?: number;
  /** Work orders in a digest; default 3. */
  readonly count?: number;
  readonly deliveryId?: string;
}

const SAMPLE_AT = Date.UTC(2026, 10, 30, 0, 15, 0);
const SAMPLE_RECIPIENT: Recipient = { id: 'zhang-wei', name: '张伟', phone: '+8613800000000', email: 'zhang.wei@example-hospital.cn', handle: 'ZhangWei' };

/** A realistic work order for samples: an MR helium level fault at a hospital in Yantai. */
export function sampleWorkOrder(options: { readonly grade?: Grade; readonly at?: number; readonly index?: number } = {}): WorkOrderFacts {
  const at = options.at ?? SAMPLE_AT;
  const grade = options.grade ?? 'emergency';
  const index = options.index ?? 0;
  const seq = 42 + index;
  const local = localMonth('Asia/Shanghai', at);
  const level = (39.6 + index * 3.1).toFixed(1);
  const limit = grade === 'emergency' ? 40 : grade === 'severe' ? 50 : 65;
  const time = formatLocalMinute('Asia/Shanghai', at);
  const device = `mr-yt-${String(index + 1).padStart(2, '0')}`;
  const zh = `${device} 液氦液位 ${level}%，低于 ${limit}%（${GRADE_LABELS[grade].zh}）（触发时 ${time}）`;
  const en = `${device} helium level ${level}%, below ${limit}% (${GRADE_LABELS[grade].en}) (at raising, ${time})`;
  const deadlines =
    grade === 'emergency'
      ? [
          { name: 'notify', label: { zh: '通知负责人', en: 'notify the responsible person' }, dueAt: at + 20_000 + MINUTE },
          { name: 'acknowledge', label: { zh: '负责人响应', en: 'acknowledge' }, dueAt: at + 20_000 + 6 * MINUTE },
          { name: 'respond', label: { zh: '到场或远程连接', en: 'on site or connected remotely' }, dueAt: at + 20_000 + 30 * MINUTE },
        ]
      : grade === 'minor'
        ? []
        : [{ name: 'respond', label: { zh: '到场或远程连接', en: 'on site or connected remotely' }, dueAt: at + 20_000 + 30 * MINUTE }];
  return {
    id: seq,
    number: `WO-${local}-${String(seq).padStart(4, '0')}`,
    status: 'new',
    kind: 'corrective',
    grade,
    siteId: 'yantai-central',
    siteName: '烟台市中心医院',
    timeZone: 'Asia/Shanghai',
    deviceId: device,
    deviceLabel: 'MR · Siemens MAGNETOM Skyra',
    location: { department: '放射科', floor: 'B1', room: `MR-${index + 2}` },
    title: zh,
    phenomenon: `${zh}\n${en}`,
    ruleId: 'helium-level-low',
    value: `${level} %`,
    forecast: { zh: '按当前消耗速率，液氦预计约 4 天后降至 30%', en: 'at the current boil-off, helium reaches 30 % in about 4 days' },
    faultAt: at,
    reportedAt: at + 20_000,
    deadlines,
  };
}

function localMonth(zone: string, at: number): string {
  return formatLocalMinute(zone, at).slice(0, 7).replace('-', '');
}

/**
 * A realistic notification for trying a channel (`guardian notify test --channel ID`, event
 * `test`) and for the README's examples: an emergency helium fault on an MR scanner, with the
 * recipient's links under `publicUrl`.
 */
export function sampleNotification(options: SampleOptions = {}): Notification {
  const event = options.event ?? 'test';
  // A test shows the times it is sent at; other samples (the README's) a fixed morning.
  const at = options.at ?? (event === 'test' ? Math.floor(Date.now() / MINUTE) * MINUTE : SAMPLE_AT);
  const base = (options.publicUrl ?? 'https://guardian.example-hospital.cn').replace(/\/+$/, '');
  const count = event === 'digest' ? Math.max(1, options.count ?? 3) : 1;
  const grade = options.grade ?? (event === 'digest' ? 'minor' : 'emergency');
  const items: NotificationItem[] = [];
  for (let i = 0; i < count; i++) {
    const wo = sampleWorkOrder({ grade, at: at + i * 7 * MINUTE, index: i });
    const facts: WorkOrderFacts =
      event === 'resolved'
        ? { ...wo, status: 'resolved', acknowledgedAt: at + 3 * MINUTE, acknowledgedBy: '张伟', resolvedAt: at + 95 * MINUTE, resolution: '冷头更换后液氦液位回升至 72%，已补充液氦', deadlines: [] }
        : event === 'recovered'
          ? { ...wo, status: 'acknowledged', acknowledgedAt: at + 3 * MINUTE, acknowledgedBy: '张伟' }
          : wo;
    // A test message carries no acknowledge link: nothing is to be acknowledged.
    const ack = event === 'test' ? undefined : `${base}/ack/SAMPLE-${wo.id}`;
    items.push({ workOrder: facts, ...(ack !== undefined && { ackUrl: ack }), workOrderUrl: `${base}/work-orders/${wo.id}` });
  }
  const createdAt = event === 'recovered' ? at + 40 * MINUTE : event === 'resolved' ? at + 95 * MINUTE : at + 20_000 + (options.level ?? 0) * 5 * MINUTE;
  return {
    event,
    deliveryId: options.deliveryId ?? `sample-${event}-${options.level ?? 0}`,
    recipient: options.recipient ?? SAMPLE_RECIPIENT,
    level: options.level ?? 0,
    items,
    createdAt,
    language: options.language ?? 'zh-CN',
  };
}
