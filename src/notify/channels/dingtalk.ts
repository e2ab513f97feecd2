/**
 * DingTalk (钉钉) group robot: POST `{"msgtype":"markdown","markdown":{"title","text"},"at":…}` to
 * the robot's webhook. With a signing secret the URL carries `timestamp` (epoch ms) and `sign`,
 * the base64 HMAC-SHA256 of `timestamp + "\n" + secret` keyed by the secret, URL-encoded; the
 * robot refuses a timestamp more than an hour off. It answers HTTP 200 with
 * `{"errcode":…,"errmsg":…}`: 0 sent; 130101 (more than 20 messages a minute: the robot is
 * throttled for 10 minutes) and -1 (busy) worth trying again, 130101 after the 10 minutes; any
 * other code permanent. A recipient with a phone is mentioned: `at.atMobiles` and `@<mobile>` in
 * the text, which DingTalk needs to highlight the mention.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { DINGTALK_MARKDOWN_MAX_BYTES, renderMarkdown } from '../templates.js';
import type { Channel, Notification, Recipient, SendResult } from '../types.js';
import { attemptHttp, robotResult } from './http.js';
import type { ChannelConfigOf } from './schema.js';

/** DingTalk's code for "send too fast": the robot is throttled for 10 minutes. */
export const DINGTALK_RATE_LIMITED = 130101;
const THROTTLE_MS = 10 * 60_000;

/** The signature DingTalk checks: base64 HMAC-SHA256 of `timestamp + "\n" + secret`, keyed by the secret. */
export function dingtalkSign(secret: string, timestamp: number): string {
  return createHmac('sha256', secret).update(`${timestamp}\n${secret}`, 'utf8').digest('base64');
}

/** The robot's URL with `timestamp` and `sign` added (URL-encoded). */
export function signedDingtalkUrl(url: string, secret: string, timestamp: number): string {
  const signed = new URL(url);
  signed.searchParams.set('timestamp', String(timestamp));
  signed.searchParams.set('sign', dingtalkSign(secret, timestamp));
  return signed.toString();
}

/** A phone as DingTalk's atMobiles takes it: the mainland mobile number without +86, digits only. */
export function dingtalkMobile(phone: string): string | undefined {
  const digits = phone.replace(/[\s()-]/g, '');
  const plain = digits.replace(/^(?:\+86|0086)(?=1\d{10}$)/, '');
  return /^\+?\d{5,20}$/.test(plain) ? plain : undefined;
}

export class DingtalkChannel implements Channel {
  readonly type = 'dingtalk' as const;
  readonly perMinute: number;

  constructor(
    readonly id: string,
    private readonly config: ChannelConfigOf<'dingtalk'>,
    private readonly options: { readonly logger: Logger; readonly language?: 'zh-CN' | 'en'; readonly now?: () => number },
  ) {
    this.perMinute = config.perMinute;
  }

  /** A group robot reaches whoever is in the group. */
  canReach(_recipient: Recipient): boolean {
    return true;
  }

  async send(notification: Notification, signal?: AbortSignal): Promise<SendResult> {
    const n = this.options.language ? { ...notification, language: this.options.language } : notification;
    const mobile = n.recipient.phone !== undefined ? dingtalkMobile(n.recipient.phone) : undefined;
    const { title, text } = renderMarkdown(n, { maxBytes: DINGTALK_MARKDOWN_MAX_BYTES, flavour: 'dingtalk', ...(mobile && { mention: `@${mobile}` }) });
    const timestamp = (this.options.now ?? Date.now)();
    const url = this.config.secret !== undefined ? signedDingtalkUrl(this.config.url, this.config.secret, timestamp) : this.config.url;
    const outcome = await attemptHttp({
      url,
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ msgtype: 'markdown', markdown: { title, text }, at: { atMobiles: mobile ? [mobile] : [], isAtAll: false } }),
      timeoutMs: this.config.timeout,
      ...(signal && { signal }),
    });
    const result = robotResult(outcome, { code: DINGTALK_RATE_LIMITED, retryAfterMs: THROTTLE_MS });
    this.options.logger.debug({ channel: this.id, delivery: n.deliveryId, ok: result.ok, ms: outcome.ms, ...(!result.ok && { error: result.error }) }, 'dingtalk robot attempt');
    return result;
  }
}
