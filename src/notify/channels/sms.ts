/**
 * SMS through a generic HTTP gateway: `url`, `method`, `headers` and a `body` template in which
 * `{{phone}}` and `{{text}}` are filled in — JSON-escaped when the content type is JSON,
 * URL-encoded for a form (application/x-www-form-urlencoded) and in the URL, XML-escaped for
 * XML; with GET the template is the query string. The text is one short message (`renderSms`) within
 * `maxSegments` segments of `segmentChars` characters. Only a person with a phone is reached.
 *
 * ```yaml
 * sms:  { type: sms, url: "https://sms.example.cn/send", headers: { Authorization: "Bearer …" },
 *         body: '{"to":"{{phone}}","content":"{{text}}"}' }
 * sms2: { type: sms, method: GET, url: "https://sms.example.cn/api", body: "mobile={{phone}}&msg={{text}}" }
 * ```
 */
import type { Logger } from 'pino';
import { renderSms } from '../templates.js';
import type { Channel, Notification, Recipient, SendResult } from '../types.js';
import { attemptHttp, classifyHttp } from './http.js';
import type { ChannelConfigOf } from './schema.js';

/** Escapes for inside a JSON string literal (the template supplies the quotes). */
function jsonEscape(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

type Encoding = 'json' | 'form' | 'xml' | 'raw';

function encodingOf(contentType: string): Encoding {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type === 'application/x-www-form-urlencoded') return 'form';
  if (type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml')) return 'xml';
  return 'raw';
}

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const xmlEscape = (text: string): string => text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
const ENCODERS: Readonly<Record<Encoding, (value: string) => string>> = { json: jsonEscape, form: encodeURIComponent, xml: xmlEscape, raw: (v) => v };


/** Fills `{{phone}}` and `{{text}}` (spaces inside the braces allowed), each value encoded by `encode`. */
export function fillTemplate(template: string, values: { readonly phone: string; readonly text: string }, encode: (value: string) => string): string {
  return template.replace(/\{\{\s*(phone|text)\s*\}\}/g, (_m, key: 'phone' | 'text') => encode(values[key]));
}

export class SmsChannel implements Channel {
  readonly type = 'sms' as const;
  readonly perMinute?: number;

  constructor(
    readonly id: string,
    private readonly config: ChannelConfigOf<'sms'>,
    private readonly options: { readonly logger: Logger; readonly language?: 'zh-CN' | 'en' },
  ) {
    if (config.perMinute !== undefined) this.perMinute = config.perMinute;
  }

  canReach(recipient: Recipient): boolean {
    return recipient.phone !== undefined && recipient.phone.trim() !== '';
  }

  /** The request this channel makes for a phone and a text (exposed for tests and `guardian notify test`). */
  request(phone: string, text: string): { url: string; method: 'GET' | 'POST' | 'PUT'; headers: Record<string, string>; body?: string } {
    const values = { phone, text };
    const url = fillTemplate(this.config.url, values, encodeURIComponent);
    if (this.config.method === 'GET') {
      const query = fillTemplate(this.config.body, values, encodeURIComponent);
      return { url: query === '' ? url : `${url}${url.includes('?') ? '&' : '?'}${query}`, method: 'GET', headers: { ...this.config.headers } };
    }
    const encode = ENCODERS[encodingOf(this.config.contentType)];
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.config.headers)) if (name.toLowerCase() !== 'content-type') headers[name] = value;
    headers['content-type'] = /charset=/i.test(this.config.contentType) ? this.config.contentType : `${this.config.contentType}; charset=utf-8`;
    return { url, method: this.config.method, headers, body: fillTemplate(this.config.body, values, encode) };
  }

  async send(notification: Notification, signal?: AbortSignal): Promise<SendResult> {
    const phone = notification.recipient.phone?.trim();
    if (!phone) return { ok: false, retryable: false, error: `${notification.recipient.id} has no phone number` };
    const n = this.options.language ? { ...notification, language: this.options.language } : notification;
    const text = renderSms(n, this.config.segmentChars, this.config.maxSegments);
    const req = this.request(phone, text);
    const outcome = await attemptHttp({ ...req, timeoutMs: this.config.timeout, ...(signal && { signal }) });
    const result = classifyHttp(outcome);
    this.options.logger.debug({ channel: this.id, delivery: n.deliveryId, ok: result.ok, ms: outcome.ms, chars: text.length, ...(!result.ok && { error: result.error }) }, 'sms gateway attempt');
    return result;
  }
}
