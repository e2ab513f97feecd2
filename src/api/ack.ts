import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { formatLocalMinute } from '../kernel/alerts.js';
import { GRADE_LABELS, GRADES, type Grade } from '../kernel/grades.js';
import type { LinkAcknowledgement } from '../notify/service.js';
import { escapeHtml } from '../notify/templates.js';
import type { WorkOrderFacts } from '../notify/types.js';
import { STATE_LABELS, WORK_ORDER_STATES, type WorkOrderState } from '../workorders/state-machine.js';
import type { ApiContext, NotifyDesk } from './context.js';

/**
 * The one-tap acknowledge page behind the link in each message (`/ack/<token>`): public, because
 * the token is the credential — signed for one work order and one person, expiring, good once.
 *
 * GET only shows the work order and, while it waits for someone, a form with one button; it never
 * changes anything (WeCom and DingTalk fetch links to preview them). The button POSTs to the same
 * URL, and the POST acts on the token in its own URL only: a body is never read, so a request made
 * from another site can do no more than the token it already carries.
 *
 * The page is self-contained (no scripts, no external assets), Chinese first and English second,
 * every value escaped. Its own Content-Security-Policy allows only its one inline style (by hash)
 * and a form posting back to this origin; the API's policy for every other route is unchanged.
 */

const STYLE = [
  'body{margin:0;font-family:-apple-system,"PingFang SC","Microsoft YaHei",system-ui,sans-serif;background:#f4f5f7;color:#1f2329;line-height:1.5}',
  'main{max-width:34rem;margin:0 auto;padding:1.25rem}',
  '.card{background:#fff;border-radius:10px;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}',
  'h1{font-size:1.35rem;margin:0 0 .25rem}',
  'h1 small{display:block;font-size:.95rem;font-weight:normal;color:#646a73}',
  '.note{margin:.75rem 0;padding:.6rem .8rem;border-radius:6px;background:#f0f4ff}',
  '.ok .note{background:#e8f7ee}.warn .note{background:#fff4e5}.bad .note{background:#fdecec}',
  'dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem .9rem;margin:1rem 0}',
  'dt{color:#646a73}dd{margin:0;word-break:break-word}',
  '.grade-emergency,.grade-severe{color:#c62828;font-weight:600}',
  'button{width:100%;font-size:1.15rem;padding:.9rem;border:0;border-radius:8px;background:#1664ff;color:#fff;cursor:pointer}',
  'footer{margin-top:1rem;font-size:.8rem;color:#8f959e;text-align:center}',
].join('');

/** Only this page's own style, by hash, and a form that posts back to this origin. */
const ACK_CSP = `default-src 'none'; style-src '${`sha256-${createHash('sha256').update(STYLE).digest('base64')}`}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; img-src 'none'`;

type Tone = 'ok' | 'warn' | 'bad' | 'info';

interface Page {
  readonly status: number;
  readonly tone: Tone;
  readonly title: { readonly zh: string; readonly en: string };
  /** Lines of the note under the title: already HTML (each part escaped where it is built). */
  readonly note: readonly string[];
  readonly workOrder?: WorkOrderFacts;
  readonly form?: { readonly personName: string; readonly expiresAt: number };
}

const e = escapeHtml;
const bilingual = (zh: string, en: string) => `${e(zh)}<br><span lang="en">${e(en)}</span>`;
const isGrade = (g: string): g is Grade => (GRADES as readonly string[]).includes(g);
const isState = (s: string): s is WorkOrderState => (WORK_ORDER_STATES as readonly string[]).includes(s);
const local = (w: WorkOrderFacts, at: number) => `${formatLocalMinute(w.timeZone, at)} (${w.timeZone})`;

function details(w: WorkOrderFacts): string {
  const grade = isGrade(w.grade) ? GRADE_LABELS[w.grade] : { zh: w.grade, en: w.grade };
  const status = isState(w.status) ? STATE_LABELS[w.status] : { zh: w.status, en: w.status };
  const place = [w.location?.department, w.location?.floor, w.location?.room].filter((p): p is string => p !== undefined && p !== '').join(' · ');
  const rows: Array<[string, string]> = [
    ['工单 / Work order', e(w.number)],
    ['等级 / Grade', `<span class="grade-${e(w.grade)}">${e(grade.zh)} / ${e(grade.en)}</span>`],
    ['设备 / Scanner', `${e(w.deviceLabel)} (${e(w.deviceId)})`],
    ['医院 / Hospital', e(w.siteName)],
    ...(place ? [['位置 / Location', e(place)] as [string, string]] : []),
    ['故障 / Fault', e(w.title)],
    ...(w.value !== undefined ? [['数值 / Value', e(w.value)] as [string, string]] : []),
    ['故障时间 / Fault at', e(local(w, w.faultAt))],
    ['状态 / Status', `${e(status.zh)} / ${e(status.en)}`],
  ];
  return `<dl>${rows.map(([k, v]) => `<dt>${e(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function render(page: Page): string {
  const form = page.form
    ? `<form method="post"><p>${bilingual(`确认人：${page.form.personName}`, `Acknowledging as ${page.form.personName}`)}</p><button type="submit">确认接单 / Acknowledge</button></form>` +
      (page.workOrder ? `<footer>${bilingual(`链接有效期至 ${local(page.workOrder, page.form.expiresAt)}`, `This link works until ${local(page.workOrder, page.form.expiresAt)}`)}</footer>` : '')
    : '';
  return [
    '<!doctype html>',
    '<html lang="zh-CN"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex, nofollow">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${e(page.title.zh)} / ${e(page.title.en)} · 远程守护</title>`,
    `<style>${STYLE}</style>`,
    '</head><body><main>',
    `<div class="card ${page.tone}">`,
    `<h1>${e(page.title.zh)}<small lang="en">${e(page.title.en)}</small></h1>`,
    page.note.length > 0 ? `<div class="note">${page.note.map((n) => `<p>${n}</p>`).join('')}</div>` : '',
    page.workOrder ? details(page.workOrder) : '',
    form,
    '</div>',
    '<footer>远程守护 Remote Guardian</footer>',
    '</main></body></html>',
  ].join('\n');
}

/** The page for what a link is now, or what pressing its button did. */
function pageFor(state: LinkAcknowledgement, nameOf: (person: string) => string): Page {
  switch (state.state) {
    case 'open':
      return {
        status: 200,
        tone: 'info',
        title: { zh: '确认接单', en: 'Acknowledge the work order' },
        note: [bilingual('确认后，您将负责此工单，升级通知随即停止。', 'Acknowledging makes you responsible for this work order and stops the escalation.')],
        workOrder: state.workOrder,
        form: { personName: state.personName, expiresAt: state.expiresAt },
      };
    case 'done':
      return {
        status: 200,
        tone: 'ok',
        title: { zh: '已确认接单', en: 'Acknowledged' },
        note: [bilingual(`工单 ${state.workOrder.number} 已由 ${state.personName} 确认，升级通知已停止。`, `Work order ${state.workOrder.number} is acknowledged by ${state.personName}; the escalation has stopped.`)],
        workOrder: state.workOrder,
      };
    case 'used': {
      const when = state.workOrder ? local(state.workOrder, state.usedAt) : new Date(state.usedAt).toISOString();
      return {
        status: 409,
        tone: 'warn',
        title: { zh: '此链接已使用', en: 'This link has been used' },
        note: [bilingual(`此链接已于 ${when} 由 ${nameOf(state.person)} 使用，不能再次使用。`, `This link was used by ${nameOf(state.person)} at ${when}; it works once.`)],
        ...(state.workOrder && { workOrder: state.workOrder }),
      };
    }
    case 'acknowledged': {
      const w = state.workOrder;
      const by = w.acknowledgedBy;
      const note =
        w.acknowledgedAt !== undefined
          ? bilingual(`工单 ${w.number} 已于 ${local(w, w.acknowledgedAt)}${by ? ` 由 ${by}` : ''} 确认，无需再次确认。`, `Work order ${w.number} was acknowledged${by ? ` by ${by}` : ''} at ${local(w, w.acknowledgedAt)}; nothing to do here.`)
          : bilingual(`工单 ${w.number} 当前状态不需要确认。`, `Work order ${w.number} is no longer waiting to be acknowledged.`);
      return { status: 409, tone: 'warn', title: { zh: '工单已被确认', en: 'Already acknowledged' }, note: [note], workOrder: w };
    }
    case 'expired':
      return {
        status: 410,
        tone: 'warn',
        title: { zh: '链接已过期', en: 'This link has expired' },
        note: [bilingual('请在远程守护系统中处理此工单，或使用最新消息中的链接。', 'Handle the work order in Remote Guardian, or use the link of a newer message.')],
        ...(state.workOrder && { workOrder: state.workOrder }),
      };
    case 'not_found':
      return {
        status: 404,
        tone: 'bad',
        title: { zh: '工单不存在', en: 'Work order not found' },
        note: [bilingual('此链接对应的工单不存在。', 'The work order of this link does not exist.')],
      };
    case 'malformed':
    case 'tampered':
      return {
        status: 400,
        tone: 'bad',
        title: { zh: '链接无效', en: 'This link is not valid' },
        note: [bilingual('链接不完整或已被修改。请从原消息中重新打开。', 'The link is incomplete or has been changed. Open it again from the message.')],
      };
  }
}

const UNAVAILABLE: Page = {
  status: 503,
  tone: 'bad',
  title: { zh: '暂时无法处理', en: 'Not available right now' },
  note: [bilingual('系统暂时无法处理此请求，未做任何更改。请稍后重试。', 'The request could not be handled and nothing was changed. Try again shortly.')],
};

function send(reply: FastifyReply, page: Page): FastifyReply {
  return reply
    .code(page.status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-robots-tag', 'noindex, nofollow')
    .header('content-security-policy', ACK_CSP)
    .send(render(page));
}

/** Acknowledge links: `GET /ack/:token` shows, `POST /ack/:token` acknowledges. Registered when the engine gives the notify service. */
export const ackRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const notify: NotifyDesk | undefined = ctx.notify;
  if (!notify) return;

  // The button posts an empty form; whatever a POST carries is never read (the URL is the credential).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 4_096 }, (_request, _body, done) => done(null, undefined));

  const nameOf = (person: string) => notify.people().find((p) => p.id === person)?.name ?? person;
  const params = z.object({ token: z.string().describe('the signed token of the link in the message') });

  const answer = async (request: FastifyRequest, token: string, reply: FastifyReply, act: boolean) => {
    let state: LinkAcknowledgement;
    try {
      state = act ? await notify.acknowledgeByLink(token) : await notify.checkLink(token);
    } catch (error) {
      request.log.error({ err: error, acknowledge: act }, 'acknowledge link could not be handled');
      return send(reply, UNAVAILABLE);
    }
    const workOrder = 'workOrder' in state ? state.workOrder?.number : undefined;
    if (act) request.log.info({ outcome: state.state, workOrder, person: 'person' in state ? state.person : undefined }, 'acknowledge link pressed');
    return send(reply, pageFor(state, nameOf));
  };

  app.get(
    '/ack/:token',
    {
      config: { public: true, secretParams: ['token'] },
      schema: {
        tags: ['on call'],
        summary: 'The acknowledge page of a link in a message (HTML): shows the work order and an Acknowledge button; changes nothing',
        description: 'Public: the signed token is the credential. 200 while the work order waits to be acknowledged; 400 a link that is not valid (changed or incomplete), 404 no such work order, 409 used already or acknowledged already, 410 expired.',
        params,
      },
    },
    async (request, reply) => answer(request, request.params.token, reply, false),
  );

  app.post(
    '/ack/:token',
    {
      config: { public: true, secretParams: ['token'] },
      schema: {
        tags: ['on call'],
        summary: 'The Acknowledge button of a link (HTML answer): acknowledges the link’s work order as the link’s person, once',
        description: 'Public: the signed token is the credential, and the only thing read; a body is ignored. 200 acknowledged (channel link in the timeline); 400 not valid, 404 no such work order, 409 used already or acknowledged already, 410 expired — each changing nothing.',
        params,
      },
    },
    async (request, reply) => answer(request, request.params.token, reply, true),
  );
};
