/**
 * Secrets at rest: the data directory is its owner's alone (0700) and the files that hold people's
 * data or a credential are 0600 — the SQL database, the telemetry database (with their -wal and
 * -shm files), spool segments, the admin token — including ones left looser by an earlier release,
 * which are tightened with a warning. A generated admin token is shown on the start that created
 * it only.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Spool } from '../../collectors/spool.js';
import { resolveAdminToken } from '../../src/app/admin-token.js';
import { startGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { bannerLines } from '../../src/cli/start.js';
import { capturedLogger, tempDir, testConfig } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** The files of a data directory that hold data or a credential. */
const privateFiles = (dataDir: string) => [
  'guardian.db',
  'guardian.db-wal',
  'guardian.db-shm',
  'telemetry.db',
  'telemetry.db-wal',
  'telemetry.db-shm',
  'admin-token',
].map((f) => join(dataDir, f));

describe('file modes of the data directory', () => {
  const root = tempDir();
  let umask: number;
  beforeAll(() => {
    // The usual umask, under which files are created 0644 unless asked otherwise.
    umask = process.umask(0o022);
  });
  afterAll(() => {
    process.umask(umask);
    root.remove();
  });

  it('creates the data directory 0700 and the database, telemetry and token files 0600', async () => {
    const dataDir = join(root.path, 'fresh', 'data');
    const guardian = await startGuardian({ config: testConfig(dataDir, { adminToken: undefined }), logger: silentLogger() });
    try {
      expect(modeOf(dataDir)).toBe(0o700);
      for (const file of privateFiles(dataDir)) {
        expect(existsSync(file), file).toBe(true);
        expect(modeOf(file).toString(8), file).toBe('600');
      }
      expect(modeOf(join(dataDir, 'spool')).toString(8)).toBe('700');
    } finally {
      await guardian.stop();
    }
  });

  it('tightens the directory and files an earlier start left open to others, with a warning for each', async () => {
    const dataDir = join(root.path, 'old', 'data');
    const first = await startGuardian({ config: testConfig(dataDir, { adminToken: undefined }), logger: silentLogger() });
    await first.stop();
    // As an earlier release left them.
    chmodSync(dataDir, 0o755);
    const loose = privateFiles(dataDir).filter((f) => existsSync(f));
    for (const file of loose) chmodSync(file, 0o644);
    const { logger, lines } = capturedLogger('warn');
    const again = await startGuardian({ config: testConfig(dataDir, { adminToken: undefined }), logger });
    try {
      expect(modeOf(dataDir)).toBe(0o700);
      for (const file of loose) expect(modeOf(file).toString(8), file).toBe('600');
      const warned = lines.filter((l) => l.level === 40).map((l) => String(l.msg));
      expect(warned).toContain('the data directory was open to other users; made owner-only');
      expect(warned).toContain('the admin token file was open to other users; made owner-only (consider a new one: delete the file and restart)');
      expect(warned.filter((m) => m === 'a database file was open to other users; made owner-only').length).toBeGreaterThanOrEqual(2);
    } finally {
      await again.stop();
    }
  });

  it('writes spool segments 0600 in a 0700 directory, and tightens segments left open', () => {
    const dir = join(root.path, 'spool');
    const { logger, lines } = capturedLogger('warn');
    const spool = new Spool({ dir, segmentBytes: 4096, maxBytes: 1e9, fsyncIntervalMs: 0, logger });
    spool.append('CT-01', [{ deviceId: 'CT-01', metric: 'tube_temp_c', ts: 1_764_000_000_000, value: 41 }]);
    spool.commit();
    spool.close();
    expect(modeOf(dir)).toBe(0o700);
    const segments = readdirSync(dir).filter((f) => f.endsWith('.spool'));
    expect(segments).toHaveLength(1);
    expect(modeOf(join(dir, segments[0]!)).toString(8)).toBe('600');
    chmodSync(join(dir, segments[0]!), 0o644);
    chmodSync(dir, 0o755);
    new Spool({ dir, segmentBytes: 4096, maxBytes: 1e9, fsyncIntervalMs: 0, logger }).close();
    expect(modeOf(dir)).toBe(0o700);
    expect(modeOf(join(dir, segments[0]!)).toString(8)).toBe('600');
    expect(lines.filter((l) => l.msg === 'a spool file was open to other users; made owner-only')).toHaveLength(2);
  });

  it('writes a new admin token file 0600 even over a short one left behind', () => {
    const dir = join(root.path, 'token');
    mkdirSync(dir);
    const file = join(dir, 'admin-token');
    const first = resolveAdminToken(undefined, file);
    expect(first.generated).toBe(true);
    expect(modeOf(file).toString(8)).toBe('600');
    expect(resolveAdminToken(undefined, file)).toEqual({ token: first.token, generated: false });
  });
});

describe('the admin token is shown once, when it is generated', () => {
  const root = tempDir();
  afterAll(() => root.remove());

  it('the banner shows a generated token on its first start only, and after that where it is kept', async () => {
    const dataDir = join(root.path, 'data');
    const config = testConfig(dataDir, { adminToken: undefined });
    const first = await startGuardian({ config, logger: silentLogger() });
    await first.stop();
    const second = await startGuardian({ config, logger: silentLogger() });
    await second.stop();
    expect(first.adminTokenGenerated).toBe(true);
    expect(second.adminTokenGenerated).toBe(false);
    expect(second.adminToken).toBe(first.adminToken);
    const shown = bannerLines(first).join('\n');
    expect(shown).toContain(first.adminToken);
    expect(shown).toContain('created now and shown this once');
    const later = bannerLines(second).join('\n');
    expect(later).not.toContain(second.adminToken);
    expect(later).toContain(`Admin token:  kept in ${join(dataDir, 'admin-token')}`);
    expect(later).toContain(`curl -H "Authorization: Bearer $(cat ${join(dataDir, 'admin-token')})"`);
  });

  it('guardian start prints it on the first run and not on the next', async () => {
    const dataDir = join(root.path, 'cli');
    const env = { GUARDIAN_DATA_DIR: dataDir, GUARDIAN_HTTP_PORT: '0', GUARDIAN_MQTT_PORT: '0', GUARDIAN_SIMULATE: 'false', GUARDIAN_ADMIN_TOKEN: '' };
    const run = async () => {
      const guardian = GuardianProcess.spawn(['start'], env);
      try {
        await guardian.waitForOutput('Ctrl-C stops cleanly', 60_000);
      } finally {
        await guardian.stop();
      }
      return guardian.output();
    };
    const firstOutput = await run();
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    expect(firstOutput).toContain(token);
    const secondOutput = await run();
    expect(secondOutput).not.toContain(token);
    expect(secondOutput).toContain(`kept in ${join(dataDir, 'admin-token')}`);
  }, 120_000);
});
