/**
 * Generic JSON webhook: POST the notification's JSON body (`renderWebhookBody`) with
 *
 *   X-Guardian-Event:     opened | escalated | … | digest | test
 *   X-Guardian-Delivery:  the notification's delivery id, the same on every retry (receivers drop duplicates by it)
 *   X-Guardian-Timestamp: unix seconds of this attempt
 *   X-Guardian-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>, with a secret
 *
 * and the configured headers (which cannot replace these). A receiver checks the signature over
 * the exact bytes it received and refuses an old timestamp, so a captured request cannot be
 * replayed later.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { renderWebhookBody } from '../templates.js';
import type { Channel, Notification, Recipient, SendResult } from '../types.js';
import { attemptHttp, classifyHttp } from './http.js';
import type { ChannelConfigOf } from './schema.js';

/** `sha256=<hex>`: HMAC-SHA256 of `timestamp + "." + body`, keyed by the channel's secret. */
export function webhookSignature(secret: string, timestamp: number, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`, 'utf8').digest('hex')}`;
}

const OWN_HEADERS = new Set(['content-type', 'x-guardian-event', 'x-guardian-delivery', 'x-guardian-timestamp', 'x-guardian-signature']);

export class WebhookChannel implements Channel {
  readonly type = 'webhook' as const;
  readonly perMinute?: number;

  constructor(
    readonly id: string,
    private readonly config: ChannelConfigOf<'webhook'>,
    private readonly options: { readonly logger: Logger; readonly language?: 'zh-CN' | 'en'; readonly now?: () => number },
  ) {
    if (config.perMinute !== undefined) this.perMinute = config.perMinute;
  }

  /** The receiving system routes it; anyone can be named in it. */
  canReach(_recipient: Recipient): boolean {
    return true;
  }

  async send(notification: Notification, signal?: AbortSignal): Promise<SendResult> {
    const n = this.options.language ? { ...notification, language: this.options.language } : notification;
    const raw = JSON.stringify(renderWebhookBody(n));
    const timestamp = Math.floor((this.options.now ?? Date.now)() / 1_000);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.config.headers)) if (!OWN_HEADERS.has(name.toLowerCase())) headers[name] = value;
    Object.assign(headers, {
      'content-type': 'application/json; charset=utf-8',
      'x-guardian-event': n.event,
      'x-guardian-delivery': n.deliveryId,
      'x-guardian-timestamp': String(timestamp),
      ...(this.config.secret !== undefined && { 'x-guardian-signature': webhookSignature(this.config.secret, timestamp, raw) }),
    });
    const outcome = await attemptHttp({ url: this.config.url, method: 'POST', headers, body: raw, timeoutMs: this.config.timeout, ...(signal && { signal }) });
    const result = classifyHttp(outcome);
    this.options.logger.debug({ channel: this.id, delivery: n.deliveryId, ok: result.ok, ms: outcome.ms, ...(!result.ok && { error: result.error }) }, 'webhook attempt');
    return result;
  }
}
