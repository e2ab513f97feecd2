import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { migrateToLatest, openSqlDatabase } from '../../src/storage/sql/database.js';
import { SqlNotificationStore } from '../../src/storage/sql/notification-repository.js';
import { tempDir } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';
import { ROBOT_OK, startHttpReceiver, type HttpReceiver } from '../support/receivers.js';
import { postgresTarget, type Target } from '../support/sql-targets.js';

const SECRET = 'cli-webhook-secret-0123456789';

/** Runs `guardian …` from source and gives its exit code and everything it printed. */
async function guardian(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = GuardianProcess.spawn(args, { GUARDIAN_LOG_LEVEL: 'warn' });
  const code = await child.exited;
  return { code, output: child.output() };
}

function writeConfig(dir: string, hooksUrl: string, extra: Record<string, unknown> = {}): string {
  const file = join(dir, 'guardian.config.yaml');
  const config = {
    dataDir: join(dir, 'data'),
    ...extra,
    notify: {
      channels: {
        hooks: { type: 'webhook', url: `${hooksUrl}/guardian`, secret: SECRET },
        mail: { type: 'email', smtp: 'smtp://127.0.0.1:9', from: 'guardian@example.cn' },
      },
      people: {
        'zhang-wei': { name: '张伟', channels: ['hooks'] },
        'li-na': { name: '李娜', channels: ['hooks', 'mail'] },
        'wang-fang': { name: '王芳', channels: ['hooks'] },
      },
      rotations: [{ id: 'east-primary', sites: ['yantai-central'], zone: 'Asia/Shanghai', handover: '08:30', every: 'daily', start: '2026-12-01', members: ['zhang-wei', 'li-na'] }],
    },
  };
  writeFileSync(file, stringify(config));
  return file;
}

describe('guardian notify test', () => {
  const dir = tempDir();
  let receiver: HttpReceiver;
  let config: string;

  beforeAll(async () => {
    receiver = await startHttpReceiver();
    config = writeConfig(dir.path, receiver.url);
  });
  afterAll(async () => {
    await receiver.close();
    dir.remove();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.respondWith(ROBOT_OK);
  });

  it('sends the signed sample to the receiver and says so in one line, exit 0', async () => {
    const { code, output } = await guardian(['notify', 'test', '--channel', 'hooks', '--config', config]);
    expect(code, output).toBe(0);
    expect(output).toBe('ok: test message sent on webhook channel hooks to 张伟 (zhang-wei) — answered 200\n');
    expect(receiver.requests).toHaveLength(1);
    const got = receiver.requests[0]!;
    expect(got.method).toBe('POST');
    expect(got.path).toBe('/guardian');
    expect(got.headers['x-guardian-event']).toBe('test');
    expect(String(got.headers['x-guardian-delivery'])).toMatch(/^test-cli-/);
    const timestamp = String(got.headers['x-guardian-timestamp']);
    expect(got.headers['x-guardian-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${got.raw}`).digest('hex')}`);
    expect(got.json).toMatchObject({ event: 'test', recipient: { id: 'zhang-wei', name: '张伟' } });
    expect(got.raw).toContain('烟台市中心医院');
  });

  it('sends to the person named with --to; the global -c works too', async () => {
    const { code, output } = await guardian(['-c', config, 'notify', 'test', '--channel', 'hooks', '--to', 'li-na']);
    expect(code, output).toBe(0);
    expect(output).toContain('to 李娜 (li-na)');
    expect(receiver.requests.map((r) => (r.json as { recipient: { id: string } }).recipient.id)).toEqual(['li-na']);
  });

  it('exits 1 with the receiver’s answer when it refuses', async () => {
    receiver.respondWith({ status: 500, body: 'gateway down' });
    const { code, output } = await guardian(['notify', 'test', '--channel', 'hooks', '--config', config]);
    expect(code, output).toBe(1);
    expect(output).toMatch(/^failed: test message on webhook channel hooks to 张伟 \(zhang-wei\) — 500 .*\(temporary: worth trying again\)\n$/);
    expect(output).toContain('gateway down');
    expect(receiver.requests).toHaveLength(1);
  });

  it('exits 2, sending nothing, for a command line it cannot act on', async () => {
    const cases: Array<[string[], string]> = [
      [['--channel', 'pager'], 'guardian: no channel "pager" in notify.channels; configured: hooks, mail'],
      [[], 'guardian: give --channel ID: one of notify.channels'],
      [['--channel', 'hooks', '--to', 'ghost'], 'guardian: person "ghost" is not in notify.people'],
      [['--channel', 'mail', '--to', 'li-na'], 'guardian: channel "mail" cannot reach 李娜'],
    ];
    for (const [args, message] of cases) {
      const { code, output } = await guardian(['notify', 'test', ...args, '--config', config]);
      expect(code, output).toBe(2);
      expect(output).toContain(message);
    }
    expect(receiver.requests).toHaveLength(0);
  }, 60_000);
});

describe('guardian notify oncall', () => {
  const dir = tempDir();
  let config: string;
  const targets: Target[] = [];

  beforeAll(() => {
    config = writeConfig(dir.path, 'http://127.0.0.1:9');
  });
  afterAll(async () => {
    for (const t of targets) await t.cleanup();
    dir.remove();
  });

  const swap = { id: 'swap-1', rotation: 'east-primary', kind: 'swap' as const, from: Date.parse('2026-12-02T08:30:00+08:00'), until: Date.parse('2026-12-03T08:30:00+08:00'), replaces: 'li-na', replacement: 'wang-fang', createdAt: Date.parse('2026-12-01T10:00:00+08:00'), createdBy: 'supervisor-1' };

  it('prints who is on call per role and the chain of a grade from the config’s rosters; without a database it says so', async () => {
    const { code, output } = await guardian(['notify', 'oncall', '--site', 'yantai-central', '--at', '2026-12-02T09:00:00+08:00', '--grade', 'severe', '--config', config]);
    expect(code, output).toBe(0);
    expect(output).toContain('On call at yantai-central, 2026-12-02 09:00 Asia/Shanghai');
    expect(output).toMatch(/primary {5}李娜 \(li-na\) +rotation east-primary, shift 2026-12-02 08:30 → 2026-12-03 08:30\n/);
    expect(output).toMatch(/secondary {3}张伟 \(zhang-wei\) +rotation east-primary, next in the primary rotation\n/);
    expect(output).toContain('supervisor  — no supervisor rotation covers site yantai-central');
    expect(output).toContain('  severe 严重故障\n');
    expect(output).toContain('+0m    2026-12-02 09:00  李娜 (li-na) as primary  [channels: all]');
    expect(output).toContain('+15m   2026-12-02 09:15  张伟 (zhang-wei) as secondary  [channels: all]');
    expect(output).not.toContain('emergency');
    expect(output).toContain(`note: no database yet at ${join(dir.path, 'data', 'guardian.db')}: only the config file's overrides count`);
  });

  it('counts the overrides made through the API, read from the SQLite database', async () => {
    const sql = await openSqlDatabase({ sqliteFile: join(dir.path, 'data', 'guardian.db') });
    await migrateToLatest(sql);
    await new SqlNotificationStore(sql.db, sql.dialect).addOverride(swap);
    await sql.close();
    const { code, output } = await guardian(['notify', 'oncall', '--site', 'yantai-central', '--at', '2026-12-02T09:00:00+08:00', '--config', config]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/primary {5}王芳 \(wang-fang\) +rotation east-primary, shift 2026-12-02 08:30 → 2026-12-03 08:30, swap override swap-1 instead of 李娜\n/);
    expect(output).toContain('+0m    2026-12-02 09:00  王芳 (wang-fang) as primary  [channels: all]');
    // Every grade, most serious first; minor waits for the digest.
    expect(output.indexOf('emergency 紧急事件')).toBeLessThan(output.indexOf('severe 严重故障'));
    expect(output).toContain('minor 轻微故障: no call; the morning digest at 08:30 (site time) to 王芳 (wang-fang) as primary');
    expect(output).toContain(`note: 1 override(s) made through the API read from ${join(dir.path, 'data', 'guardian.db')}`);
    // Before the swap begins, the rotation as scheduled.
    const before = await guardian(['notify', 'oncall', '--site', 'yantai-central', '--at', '2026-12-02T08:29:00+08:00', '--grade', 'minor', '--config', config]);
    expect(before.output).toMatch(/primary {5}张伟 \(zhang-wei\)/);
  });

  it('says when the database cannot be reached, and still answers from the config', async () => {
    const down = join(dir.path, 'database-down');
    mkdirSync(down);
    const unreachable = writeConfig(down, 'http://127.0.0.1:9', { database: { url: 'postgres://guardian@127.0.0.1:1/guardian' } });
    const { code, output } = await guardian(['notify', 'oncall', '--site', 'yantai-central', '--at', '2026-12-02T09:00:00+08:00', '--grade', 'general', '--config', unreachable]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/primary {5}李娜 \(li-na\)/);
    expect(output).toContain('note: overrides made through the API are not included: the database cannot be reached (cannot reach PostgreSQL at 127.0.0.1:1/guardian');
  });

  it.runIf(process.env.GUARDIAN_TEST_DATABASE_URL)('reads the overrides from PostgreSQL', async () => {
    const target = postgresTarget(process.env.GUARDIAN_TEST_DATABASE_URL!);
    targets.push(target);
    const { url } = await target.fresh();
    const sql = await openSqlDatabase({ url: url!, sqliteFile: '' });
    await migrateToLatest(sql);
    await new SqlNotificationStore(sql.db, sql.dialect).addOverride(swap);
    await sql.close();
    const pgDir = tempDir();
    try {
      const pgConfig = writeConfig(pgDir.path, 'http://127.0.0.1:9', { database: { url } });
      const { code, output } = await guardian(['notify', 'oncall', '--site', 'yantai-central', '--at', '2026-12-02T09:00:00+08:00', '--grade', 'emergency', '--config', pgConfig]);
      expect(code, output).toBe(0);
      expect(output).toMatch(/primary {5}王芳 \(wang-fang\) .*swap override swap-1 instead of 李娜/);
      expect(output).toContain('note: 1 override(s) made through the API read from postgres://');
    } finally {
      pgDir.remove();
    }
  });

  it('exits 2 for a command line it cannot act on', async () => {
    const cases: Array<[string[], string]> = [
      [[], 'guardian: give --site SITE: the site id'],
      [['--site', 'yantai-central', '--at', '2026-12-02 09:00'], 'guardian: --at 2026-12-02 09:00 is not an ISO-8601 time with a zone'],
      [['--site', 'yantai-central', '--grade', 'urgent'], 'guardian: --grade urgent is not one of: minor, general, severe, emergency'],
    ];
    for (const [args, message] of cases) {
      const { code, output } = await guardian(['notify', 'oncall', ...args, '--config', config]);
      expect(code, output).toBe(2);
      expect(output).toContain(message);
    }
  }, 60_000);
});
