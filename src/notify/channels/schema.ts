/**
 * The `notify.channels` entries of the config file: one shape per channel type, told apart by
 * `type` (design §7).
 *
 * ```yaml
 * notify:
 *   channels:
 *     ops-wecom: { type: wecom, url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…" }
 *     ops-ding:  { type: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=…", secret: "SEC…" }
 *     hooks:     { type: webhook, url: "https://ops.example.cn/guardian", secret: "…" }
 *     mail:      { type: email, smtp: "smtps://user:pass@smtp.example.cn", from: "guardian@example.cn" }
 *     sms:       { type: sms, url: "https://sms.example.cn/send", headers: { Authorization: "Bearer …" },
 *                  body: '{"to":"{{phone}}","text":"{{text}}"}' }
 * ```
 */
import { z } from 'zod';
import { parseDuration } from '../../kernel/time/duration.js';

/** A duration: milliseconds or text such as `10s`. */
export const durationSetting = (fallback: string) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 0) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 30s, 5m, 2h)` });
        return z.NEVER;
      }
      return ms;
    });

const httpUrl = z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL');
const common = {
  /** Longest one attempt may take. */
  timeout: durationSetting('10s'),
};
const perMinuteBase = () => z.coerce.number().int().min(1).max(100_000);
/** Messages a minute the receiver takes: set by default for the robots, unlimited unless set for the others. */
const perMinute = (fallback: number) => perMinuteBase().default(fallback);
const perMinuteOptional = () => perMinuteBase().optional();

export const WecomChannelSchema = z.strictObject({
  type: z.literal('wecom'),
  url: httpUrl.describe('the group robot webhook, …/cgi-bin/webhook/send?key=…'),
  perMinute: perMinute(20).describe('messages a minute the robot takes (WeCom: 20)'),
  ...common,
});

export const DingtalkChannelSchema = z.strictObject({
  type: z.literal('dingtalk'),
  url: httpUrl.describe('the robot webhook, …/robot/send?access_token=…'),
  secret: z.string().min(1).optional().describe('the robot’s signing secret (SEC…): requests are signed with HMAC-SHA256 of timestamp + "\\n" + secret'),
  perMinute: perMinute(20).describe('messages a minute the robot takes (DingTalk: 20, then throttled for 10 minutes)'),
  ...common,
});

export const WebhookChannelSchema = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl,
  secret: z.string().min(16, 'must be at least 16 characters').optional().describe('signs each request: X-Guardian-Signature: sha256=<HMAC-SHA256 of timestamp + "." + body>'),
  headers: z.record(z.string().min(1), z.string()).default({}),
  perMinute: perMinuteOptional(),
  ...common,
});

export const EmailChannelSchema = z.strictObject({
  type: z.literal('email'),
  smtp: z.string().regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL, e.g. smtps://user:pass@smtp.example.cn'),
  from: z.string().min(3).describe('sender, e.g. "远程守护 <guardian@example.cn>"'),
  /** Check the SMTP server's certificate (off only for a test server). */
  rejectUnauthorized: z.boolean().default(true),
  perMinute: perMinuteOptional(),
  ...common,
});

export const SmsChannelSchema = z.strictObject({
  type: z.literal('sms'),
  url: httpUrl.describe('the SMS gateway'),
  method: z.enum(['POST', 'PUT', 'GET']).default('POST'),
  headers: z.record(z.string().min(1), z.string()).default({}),
  /**
   * Request body with {{phone}} and {{text}} filled in: JSON-escaped when contentType is JSON,
   * URL-encoded for a form, XML-escaped for XML. With GET it is the query string, URL-encoded
   * (e.g. `mobile={{phone}}&content={{text}}`). Placeholders in `url` are filled in URL-encoded.
   */
  body: z.string().default('{"phone":"{{phone}}","text":"{{text}}"}'),
  contentType: z.string().regex(/^[\w.+-]+\/[\w.+-]+(?:\s*;.*)?$/, 'must be a media type, e.g. application/json').default('application/json'),
  /** Characters of one SMS segment: 70 Chinese characters. */
  segmentChars: z.coerce.number().int().min(10).max(1_000).default(70),
  /** Segments one message may take; longer text is shortened. */
  maxSegments: z.coerce.number().int().min(1).max(10).default(3),
  perMinute: perMinuteOptional(),
  ...common,
}).superRefine((sms, ctx) => {
  const template = `${sms.url}\n${sms.body}`;
  for (const key of ['phone', 'text'] as const) {
    if (!new RegExp(`\\{\\{\\s*${key}\\s*\\}\\}`).test(template)) ctx.addIssue({ code: 'custom', message: `must contain {{${key}}} (in body or url)`, path: ['body'] });
  }
  if (sms.method === 'GET' && /^\s*[{<]/.test(sms.body)) {
    ctx.addIssue({ code: 'custom', message: 'with method GET the body is the query string, e.g. phone={{phone}}&text={{text}}', path: ['body'] });
  }
});

export const ChannelConfigSchema = z.discriminatedUnion('type', [WecomChannelSchema, DingtalkChannelSchema, WebhookChannelSchema, EmailChannelSchema, SmsChannelSchema]);
export type ChannelConfig = z.output<typeof ChannelConfigSchema>;
/** The settings of one channel type. */
export type ChannelConfigOf<T extends ChannelConfig['type']> = Extract<ChannelConfig, { readonly type: T }>;
