import { ID_PATTERN } from '../src/kernel/device.js';

export const TOPIC_KINDS = ['telemetry', 'event', 'status'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

export interface ParsedTopic {
  readonly site: string;
  readonly device: string;
  readonly kind: TopicKind;
}

/** Topic of a message kind for a device: `{prefix}/{site}/{device}/{kind}`. */
export function topicFor(site: string, device: string, kind: TopicKind, prefix = 'guardian'): string {
  return `${prefix}/${site}/${device}/${kind}`;
}

/** Parses `{prefix}/{site}/{device}/{kind}`; returns a reason text when the topic is outside the contract. */
export function parseTopic(topic: string, prefix = 'guardian'): ParsedTopic | { error: string } {
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[0] !== prefix) return { error: `expected ${prefix}/{site}/{device}/{kind}, got "${topic.slice(0, 200)}"` };
  const [, site, device, kind] = parts as [string, string, string, string];
  if (!ID_PATTERN.test(site)) return { error: `site "${site.slice(0, 80)}" is not a valid id` };
  if (!ID_PATTERN.test(device)) return { error: `device "${device.slice(0, 80)}" is not a valid id` };
  if (!(TOPIC_KINDS as readonly string[]).includes(kind)) return { error: `kind "${kind.slice(0, 40)}" is not one of ${TOPIC_KINDS.join(', ')}` };
  return { site, device, kind: kind as TopicKind };
}
