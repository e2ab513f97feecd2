import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TOKEN = 'cli-test-token-0123456789';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

interface Run {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function guardian(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/guardian.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, GUARDIAN_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('guardian start as a user runs it', () => {
  const dir = tempDir();
  const blockers: Server[] = [];
  afterAll(() => {
    for (const b of blockers) b.close();
    dir.remove();
  });

  it('starts the demo, serves simulated data, stops cleanly on Ctrl-C and continues on the next start', async () => {
    const httpPort = await freePort();
    const mqttPort = await freePort();
    const configFile = join(dir.path, 'guardian.config.yaml');
    // A short backfill keeps the test quick; the demo default is 14 days.
    writeFileSync(configFile, 'simulate:\n  backfill: 6h\n  interval: 1s\n');
    const env = { GUARDIAN_DATA_DIR: join(dir.path, 'data'), GUARDIAN_HTTP_PORT: String(httpPort), GUARDIAN_MQTT_PORT: String(mqttPort), GUARDIAN_ADMIN_TOKEN: TOKEN };
    const api = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${httpPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return (await r.json()) as { items: Array<{ id: string; modality: string }>; series: Array<{ points: Array<{ count: number }> }> };
    };
    const countStored = async (deviceId: string) => {
      const body = await api(`/api/devices/${deviceId}/telemetry?metric=shield_temp_k&from=-2d&step=7d`);
      return body.series[0]!.points.reduce((n, p) => n + p.count, 0);
    };

    const first = guardian(['--config', configFile, 'start'], env);
    try {
      const devices = await waitFor(async () => (await api('/api/devices')).items, { timeoutMs: 30_000, what: 'API up' });
      expect(devices.filter((d) => d.modality === 'CT').length).toBeGreaterThanOrEqual(2);
      expect(devices.filter((d) => d.modality === 'MR').length).toBeGreaterThanOrEqual(2);
      const mr = devices.find((d) => d.modality === 'MR')!.id;
      // 6 h of backfill at one sample a minute, then live samples every second.
      await waitFor(async () => (await countStored(mr)) >= 360, { timeoutMs: 30_000, what: 'backfill stored' }).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${first.output()}`);
      });
      expect(first.output()).toContain(`http://127.0.0.1:${httpPort}`);
      expect(first.output()).not.toContain(TOKEN);
      // A second engine on the same data directory would share its spool and SQLite files.
      const intruder = guardian(['--config', configFile, 'start'], { ...env, GUARDIAN_HTTP_PORT: String(await freePort()), GUARDIAN_MQTT_PORT: String(await freePort()) });
      expect(await intruder.exited).toBe(2);
      expect(intruder.output()).toContain('is in use by another guardian process');
    } finally {
      first.child.kill('SIGINT');
    }
    expect(await first.exited).toBe(0);
    expect(first.output()).toMatch(/all accepted data written/);

    const devices = JSON.parse('[]') as string[];
    const second = guardian(['--config', configFile, 'start'], env);
    try {
      const list = await waitFor(async () => (await api('/api/devices')).items, { timeoutMs: 30_000, what: 'API up again' });
      devices.push(...list.map((d) => d.id));
      const mr = list.find((d) => d.modality === 'MR')!.id;
      const before = await countStored(mr);
      expect(before).toBeGreaterThanOrEqual(360);
      // Still one sample per minute of history: the restart filled the gap instead of resending 6 h.
      expect(before).toBeLessThan(360 + 200);
      await waitFor(async () => (await countStored(mr)) > before, { what: 'live data after restart' });
    } finally {
      second.child.kill('SIGINT');
    }
    expect(await second.exited).toBe(0);
    expect(devices.length).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it('says clearly which port is taken instead of printing a stack trace', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
    const run = guardian(['start'], { GUARDIAN_DATA_DIR: join(dir.path, 'clash'), GUARDIAN_MQTT_PORT: String(port), GUARDIAN_HTTP_PORT: String(await freePort()) });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(`cannot listen on 127.0.0.1:${port}: the port is already in use`);
    expect(run.output()).toContain('GUARDIAN_MQTT_PORT');
    expect(run.output()).not.toMatch(/\n\s+at /);
  });

  it('stops on a bad setting with a message naming it', async () => {
    const run = guardian(['start'], { GUARDIAN_DATA_DIR: join(dir.path, 'bad'), GUARDIAN_HTTP_PORT: 'not-a-port' });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain('http.port (GUARDIAN_HTTP_PORT)');

    const rulesDir = join(dir.path, 'bad-rules');
    mkdirSync(rulesDir);
    writeFileSync(join(rulesDir, 'mr.yaml'), 'pack: broken\nmodality: MR\nrules:\n  - id: x\n    kind: threshold\n    metric: nope_pct\n');
    const badRules = guardian(['start'], { GUARDIAN_DATA_DIR: join(dir.path, 'bad-rules-data'), GUARDIAN_RULES_DIR: rulesDir, GUARDIAN_HTTP_PORT: String(await freePort()), GUARDIAN_MQTT_PORT: String(await freePort()) });
    expect(await badRules.exited).toBe(2);
    expect(badRules.output()).toMatch(new RegExp(`rule packs in ${rulesDir} are invalid:\\n${rulesDir}/mr.yaml:\\d+:\\d+: `));
  });
});
