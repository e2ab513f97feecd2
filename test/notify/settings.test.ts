import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { loadConfig } from '../../src/config/load.js';
import { chainFor, channelsFor, nextChannel, resolveTarget } from '../../src/notify/escalation.js';
import { compileRoster } from '../../src/notify/oncall.js';
import { DEFAULT_ESCALATION, NotifySettingsSchema, notifyEnabled, policyFor } from '../../src/notify/settings.js';
import { signAckLink, verifyAckLink } from '../../src/notify/links.js';
import { tempDir } from '../helpers.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MINUTE = 60_000;

/** One hospital: two rotations (primary weekly, supervisor daily), every channel type. */
const HOSPITAL = {
  publicUrl: 'https://guardian.example-hospital.cn/',
  channels: {
    'ops-wecom': { type: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k' },
    'ops-ding': { type: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send?access_token=t', secret: 'SECabc' },
    hooks: { type: 'webhook', url: 'https://ops.example.cn/hook', secret: 'a-webhook-secret-of-32-characters' },
    mail: { type: 'email', smtp: 'smtps://u:p@smtp.example.cn', from: 'guardian@example.cn' },
    sms: { type: 'sms', url: 'https://sms.example.cn/send' },
  },
  people: {
    'zhang-wei': { name: '张伟', phone: '+8613800000001', email: 'zhang.wei@example.cn', channels: ['ops-wecom', 'mail', 'sms'] },
    'li-na': { name: '李娜', phone: '+8613800000002', channels: ['ops-ding', 'sms'] },
    'wang-fang': { name: '王芳', email: 'wang.fang@example.cn', channels: ['mail', 'hooks'] },
  },
  rotations: [
    { id: 'yt-primary', sites: ['yantai-central'], handover: '08:30', every: 'weekly', start: '2026-11-30', members: ['zhang-wei', 'li-na'] },
    { id: 'yt-supervisor', role: 'supervisor', sites: ['yantai-central'], every: 'daily', members: ['wang-fang'] },
  ],
};

describe('notify settings', () => {
  it('accepts a complete hospital section and fills the tender defaults', () => {
    const settings = NotifySettingsSchema.parse(HOSPITAL);
    expect(settings.publicUrl).toBe('https://guardian.example-hospital.cn');
    expect(settings.language).toBe('zh-CN');
    expect(settings.digest.at).toBe('08:30');
    expect(policyFor(settings, 'emergency')).toEqual(DEFAULT_ESCALATION.emergency);
    expect(policyFor(settings, 'minor').digest).toBe(true);
    expect(notifyEnabled(settings)).toBe(true);
    expect(notifyEnabled(NotifySettingsSchema.parse({}))).toBe(false);
  });

  it('refuses unknown channels, people and roles with their paths', () => {
    const bad = NotifySettingsSchema.safeParse({
      ...HOSPITAL,
      people: { ...HOSPITAL.people, 'zhao-lei': { name: '赵磊', channels: ['pager'] } },
      escalation: { severe: [{ after: '0m', to: ['primary', 'nobody'], channels: ['fax'] }] },
    });
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toContain('people.zhao-lei.channels.0: unknown channel "pager" (not in notify.channels)');
    expect(messages.some((m) => m.startsWith('escalation.severe.steps.0.to.1: "nobody" is neither a role'))).toBe(true);
    expect(messages.some((m) => m.startsWith('escalation.severe.steps.0.channels.0: "fax" is neither a channel type'))).toBe(true);
  });

  it('refuses steps out of order and names the setting in the config file error', () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'guardian.config.yaml');
      writeFileSync(file, `notify:\n  escalation:\n    general:\n      - { after: 10m, to: [primary] }\n      - { after: 5m, to: [secondary] }\n`);
      expect(() => loadConfig({ file, env: {} })).toThrow(/notify\.escalation\.general\.1\.after: must be later than the step before/);
    } finally {
      dir.remove();
    }
  });

  it('is part of the config and takes its switches from the environment', () => {
    const loaded = loadConfig({ env: { GUARDIAN_NOTIFY_PUBLIC_URL: 'https://g.example.cn', GUARDIAN_NOTIFY_ENABLED: 'false' } });
    expect(loaded.config.notify.publicUrl).toBe('https://g.example.cn');
    expect(loaded.config.notify.enabled).toBe(false);
    expect(ConfigSchema.parse({}).notify.channels).toEqual({});
  });
});

describe('escalation chain', () => {
  const settings = NotifySettingsSchema.parse(HOSPITAL);
  const roster = compileRoster(settings);
  // Monday 2026-11-30 08:30 Asia/Shanghai = 00:30 UTC: zhang-wei's week; the next Monday li-na's.
  const monday = Date.UTC(2026, 10, 30, 0, 30);

  it('calls primary at once, secondary and supervisor at 5 min, the manager at 15 min for an emergency', () => {
    const chain = chainFor(settings, roster, 'yantai-central', 'emergency', monday + 60 * MINUTE);
    expect(chain.steps.map((s) => s.afterMs)).toEqual([0, 5 * MINUTE, 15 * MINUTE]);
    expect(chain.steps[0]!.to.map((t) => t.person)).toEqual(['zhang-wei']);
    // No secondary rotation: the other member of the primary rotation.
    expect(chain.steps[1]!.to.map((t) => t.person)).toEqual(['li-na', 'wang-fang']);
    expect(chain.steps[2]!.to[0]!.missing).toBe('no manager rotation covers site yantai-central');
    expect(chain.repeat).toEqual({ everyMs: 15 * MINUTE, times: 4 });
  });

  it('resolves the role at the step time, across the weekly handover', () => {
    const sevenDays = 7 * 24 * 60 * MINUTE;
    expect(resolveTarget(roster, settings.people, 'yantai-central', 'primary', monday + sevenDays - 1).person).toBe('zhang-wei');
    expect(resolveTarget(roster, settings.people, 'yantai-central', 'primary', monday + sevenDays).person).toBe('li-na');
    const chain = chainFor(settings, roster, 'yantai-central', 'severe', monday + sevenDays - 10 * MINUTE);
    expect(chain.steps[0]!.to[0]!.person).toBe('zhang-wei');
    // The 15-minute step falls after the handover: li-na is primary then, so secondary is zhang-wei.
    expect(chain.steps[1]!.to[0]!.person).toBe('zhang-wei');
  });

  it('picks channels per step: all, first, or by type, in the person’s order', () => {
    const reach = () => true;
    const zhang = settings.people['zhang-wei']!;
    expect(channelsFor(zhang, 'all', settings.channels, reach)).toEqual(['ops-wecom', 'mail', 'sms']);
    expect(channelsFor(zhang, 'first', settings.channels, reach)).toEqual(['ops-wecom']);
    expect(channelsFor(zhang, ['wecom', 'dingtalk', 'webhook', 'email'], settings.channels, reach)).toEqual(['ops-wecom', 'mail']);
    expect(channelsFor(zhang, 'first', settings.channels, (c) => c !== 'ops-wecom')).toEqual(['mail']);
    expect(nextChannel(zhang, new Set(['ops-wecom']), settings.channels, reach)).toBe('mail');
    expect(nextChannel(zhang, new Set(['ops-wecom', 'mail', 'sms']), settings.channels, reach)).toBeUndefined();
  });
});

describe('acknowledge links', () => {
  const secret = 'a-secret-of-at-least-thirty-two-characters';
  const now = Date.UTC(2026, 11, 2);
  it('carries its work order and person until it expires', () => {
    const token = signAckLink(secret, { workOrderId: 42, person: 'zhang-wei', expiresAt: now + 60_000 });
    const check = verifyAckLink(secret, token, now);
    expect(check.ok && check.link).toMatchObject({ workOrderId: 42, person: 'zhang-wei', expiresAt: now + 60_000 });
    expect(verifyAckLink(secret, token, now + 60_000)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses a changed character, another secret, and garbage', () => {
    const token = signAckLink(secret, { workOrderId: 42, person: 'zhang-wei', expiresAt: now + 60_000 });
    const [payload, signature] = token.split('.') as [string, string];
    // A payload naming another work order, signed with nothing we know.
    const other = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('"w":42', '"w":43')).toString('base64url');
    expect(verifyAckLink(secret, `${other}.${signature}`, now)).toMatchObject({ ok: false, reason: 'tampered' });
    // Every one-character change of the signature, the last character's padding bits included.
    for (let i = 0; i < signature.length; i++) {
      const flipped = signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1);
      expect(verifyAckLink(secret, `${payload}.${flipped}`, now), `changed at ${i}`).toMatchObject({ ok: false, reason: 'tampered' });
    }
    expect(verifyAckLink('another-secret-of-thirty-two-characters!', token, now)).toMatchObject({ ok: false, reason: 'tampered' });
    expect(verifyAckLink(secret, 'not-a-token', now)).toMatchObject({ ok: false, reason: 'malformed' });
  });
});

describe('the README', () => {
  it('its complete notify example is a valid configuration', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('**A complete example for one hospital**'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    const parsed = ConfigSchema.safeParse(parse(block!));
    expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([]);
    const notify = parsed.data!.notify;
    expect(Object.values(notify.channels).map((c) => c.type).sort()).toEqual(['dingtalk', 'email', 'sms', 'webhook', 'wecom']);
    expect(notify.rotations).toHaveLength(2);
  });
});
