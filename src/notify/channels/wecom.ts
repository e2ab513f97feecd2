/**
 * WeCom (企业微信) group robot: POST `{"msgtype":"markdown","markdown":{"content":…}}` to the
 * robot's webhook, content at most 4,096 bytes. The robot answers HTTP 200 with
 * `{"errcode":…,"errmsg":…}`: 0 sent; 45009 (more than 20 messages a minute) and -1 (system
 * busy) worth trying again, 45009 after the minute; any other code permanent (a wrong key, a
 * removed robot, bad content). A recipient with a handle (their WeCom user id) is mentioned
 * with `<@handle>`.
 */
import type { Logger } from 'pino';
import { renderMarkdown, WECOM_MARKDOWN_MAX_BYTES } from '../templates.js';
import type { Channel, Notification, Recipient, SendResult } from '../types.js';
import { attemptHttp, robotResult } from './http.js';
import type { ChannelConfigOf } from './schema.js';

/** WeCom's code for "api freq out of limit": the robot takes 20 messages a minute. */
export const WECOM_RATE_LIMITED = 45009;
const RATE_WINDOW_MS = 60_000;

/** A WeCom user id as a mention accepts it (letters, digits and a few marks; nothing that closes the tag). */
const HANDLE = /^[\w.@-]{1,64}$/;

export class WecomChannel implements Channel {
  readonly type = 'wecom' as const;
  readonly perMinute: number;

  constructor(
    readonly id: string,
    private readonly config: ChannelConfigOf<'wecom'>,
    private readonly options: { readonly logger: Logger; readonly language?: 'zh-CN' | 'en' },
  ) {
    this.perMinute = config.perMinute;
  }

  /** A group robot reaches whoever is in the group. */
  canReach(_recipient: Recipient): boolean {
    return true;
  }

  async send(notification: Notification, signal?: AbortSignal): Promise<SendResult> {
    const n = this.options.language ? { ...notification, language: this.options.language } : notification;
    const handle = n.recipient.handle;
    const mention = handle !== undefined && HANDLE.test(handle) ? `<@${handle}>` : undefined;
    const { text } = renderMarkdown(n, { maxBytes: WECOM_MARKDOWN_MAX_BYTES, flavour: 'wecom', ...(mention && { mention }) });
    const outcome = await attemptHttp({
      url: this.config.url,
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ msgtype: 'markdown', markdown: { content: text } }),
      timeoutMs: this.config.timeout,
      ...(signal && { signal }),
    });
    const result = robotResult(outcome, { code: WECOM_RATE_LIMITED, retryAfterMs: RATE_WINDOW_MS });
    this.options.logger.debug({ channel: this.id, delivery: n.deliveryId, ok: result.ok, ms: outcome.ms, ...(!result.ok && { error: result.error }) }, 'wecom robot attempt');
    return result;
  }
}
