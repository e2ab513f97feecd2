/**
 * Channels from their settings (`notify.channels`): one class per type, all behind `Channel`.
 */
import type { Logger } from 'pino';
import type { Channel } from '../types.js';
import { DingtalkChannel } from './dingtalk.js';
import { EmailChannel } from './email.js';
import type { ChannelConfig } from './schema.js';
import { SmsChannel } from './sms.js';
import { WebhookChannel } from './webhook.js';
import { WecomChannel } from './wecom.js';

export interface ChannelOptions {
  readonly logger: Logger;
  /** Messages on these channels in this language, whatever the notification says. */
  readonly language?: 'zh-CN' | 'en';
}

/** The channel for one `notify.channels` entry. */
export function createChannel(id: string, config: ChannelConfig, options: ChannelOptions): Channel {
  switch (config.type) {
    case 'wecom':
      return new WecomChannel(id, config, options);
    case 'dingtalk':
      return new DingtalkChannel(id, config, options);
    case 'webhook':
      return new WebhookChannel(id, config, options);
    case 'email':
      return new EmailChannel(id, config, options);
    case 'sms':
      return new SmsChannel(id, config, options);
  }
}

/** Every configured channel by its id, in the order of the settings. */
export function createChannels(record: Readonly<Record<string, ChannelConfig>>, options: ChannelOptions): Map<string, Channel> {
  return new Map(Object.entries(record).map(([id, config]) => [id, createChannel(id, config, options)]));
}

export { DingtalkChannel, EmailChannel, SmsChannel, WebhookChannel, WecomChannel };
