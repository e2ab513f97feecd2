import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start under a service manager', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  // A service manager (systemd, a container runtime) signals the one process it started: npm.
  // The engine must get the signal and stop cleanly, not be left running behind a shell.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`stops the engine when npm gets ${signal}`, async () => {
      const env = {
        ...process.env,
        GUARDIAN_DATA_DIR: join(dir.path, signal),
        GUARDIAN_HTTP_PORT: String(await freePort()),
        GUARDIAN_MQTT_PORT: String(await freePort()),
        GUARDIAN_SIMULATE: 'off',
        GUARDIAN_LOG_LEVEL: 'info',
      };
      const npm = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      npm.stdout.on('data', (c: Buffer) => (out += c.toString()));
      npm.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
      try {
        // npm start builds first.
        await waitFor(() => /running/.test(out), { timeoutMs: 150_000, what: 'the engine started by npm start' });
        const enginePid = Number(/"pid":(\d+)/.exec(out)?.[1]);
        expect(enginePid).toBeGreaterThan(0);
        npm.kill(signal);
        const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000))]);
        expect(code).not.toBe('hung');
        expect(out).toMatch(/"msg":"stopped"/);
        await waitFor(() => !alive(enginePid), { timeoutMs: 5_000, what: 'the engine process gone' });
      } finally {
        npm.kill('SIGKILL');
      }
    }, 200_000);
  }
});
