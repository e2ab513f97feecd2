import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ConfigSchema, type GuardianConfig, type GuardianConfigInput } from '../src/config/schema.js';

/** A temporary data directory, removed by the returned function. */
export function tempDir(prefix = 'guardian-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A validated configuration for tests: free ports, a temp data dir, no simulator unless asked. */
export function testConfig(dataDir: string, overrides: GuardianConfigInput = {}): GuardianConfig {
  return ConfigSchema.parse({
    dataDir,
    http: { host: '127.0.0.1', port: 0 },
    adminToken: 'test-admin-token-0123456789',
    log: { level: 'silent' },
    ...overrides,
    mqtt: { port: 0, ...overrides.mqtt },
    simulate: { enabled: false, ...overrides.simulate },
  });
}

/** Polls `probe` until it returns a truthy value or the time is up. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
  throw new Error(`timed out waiting for ${options.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
}

/** A pino logger whose lines are kept for the test to read: as written (`raw`) and parsed (`lines`). */
export function capturedLogger(level: pino.Level = 'info'): { logger: pino.Logger; lines: Array<Record<string, unknown>>; raw: string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level }, stream), lines, raw };
}
