/**
 * E-mail over SMTP (nodemailer): one message to the recipient's address with the subject, a
 * plain-text and an HTML part (`renderEmail`); nodemailer encodes a Chinese subject as an
 * RFC 2047 encoded word. One connection per message, so a server that restarted between messages
 * costs nothing. A reply of 4xx, a refused or dropped connection or a timeout is worth trying
 * again; 5xx is permanent (a refused address, failed authentication), as is a recipient without
 * an address.
 */
import nodemailer from 'nodemailer';
import type { NodemailerError, Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import { renderEmail } from '../templates.js';
import type { Channel, Notification, Recipient, SendResult } from '../types.js';
import type { ChannelConfigOf } from './schema.js';

/** Failures that end the connection rather than refuse the message: another attempt may get through. */
const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EABORT']);

/** How a nodemailer error counts. */
export function classifySmtpError(error: unknown): SendResult {
  const e = (error ?? {}) as NodemailerError;
  const message = (e.response ?? e.message ?? String(error)).replace(/\s+/g, ' ').trim();
  const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  if (code !== undefined) {
    // 4yz transient, 5yz permanent (RFC 5321 §4.2.1), except 503 (bad sequence: the session, not the message).
    const retryable = code < 500 || code === 503;
    return { ok: false, retryable, status: code, error: `SMTP ${code}: ${message}` };
  }
  const name = typeof e.code === 'string' ? e.code : undefined;
  return { ok: false, retryable: name !== undefined && TRANSIENT_CODES.has(name), error: name ? `${name}: ${message}` : message };
}

export class EmailChannel implements Channel {
  readonly type = 'email' as const;
  readonly perMinute?: number;
  private readonly transport: Transporter;

  constructor(
    readonly id: string,
    private readonly config: ChannelConfigOf<'email'>,
    private readonly options: { readonly logger: Logger; readonly language?: 'zh-CN' | 'en' },
  ) {
    if (config.perMinute !== undefined) this.perMinute = config.perMinute;
    this.transport = nodemailer.createTransport({
      url: config.smtp,
      connectionTimeout: config.timeout,
      greetingTimeout: config.timeout,
      socketTimeout: config.timeout,
      tls: { rejectUnauthorized: config.rejectUnauthorized },
    });
  }

  canReach(recipient: Recipient): boolean {
    return recipient.email !== undefined && recipient.email.trim() !== '';
  }

  async send(notification: Notification, signal?: AbortSignal): Promise<SendResult> {
    const address = notification.recipient.email?.trim();
    if (!address) return { ok: false, retryable: false, error: `${notification.recipient.id} has no e-mail address` };
    const n = this.options.language ? { ...notification, language: this.options.language } : notification;
    const mail = renderEmail(n);
    const started = performance.now();
    // The whole attempt, not only each wait, is bounded by the channel's timeout.
    const timeout = AbortSignal.timeout(this.config.timeout);
    let result: SendResult;
    try {
      const info = await this.transport.sendMail({
        from: this.config.from,
        to: { name: n.recipient.name, address },
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        headers: { 'X-Guardian-Delivery': n.deliveryId, 'X-Guardian-Event': n.event },
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
      const response = typeof (info as { response?: unknown }).response === 'string' ? (info as { response: string }).response : undefined;
      const code = response !== undefined ? Number(/^\d{3}/.exec(response)?.[0]) : NaN;
      result = { ok: true, ...(Number.isFinite(code) && { status: code }), ...(response !== undefined && { detail: response.slice(0, 200) }) };
    } catch (error) {
      result = timeout.aborted ? { ok: false, retryable: true, error: `no answer within ${this.config.timeout} ms` } : classifySmtpError(error);
    }
    this.options.logger.debug({ channel: this.id, delivery: n.deliveryId, ok: result.ok, ms: Math.round(performance.now() - started), ...(!result.ok && { error: result.error }) }, 'e-mail attempt');
    return result;
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
