/**
 * Pushes survive a crash: the engine is killed (SIGKILL, no shutdown code runs) during a burst of
 * 100 notifications and started again on the same data directory. Every notification arrives;
 * the only duplicates are those in flight at the kill, and a duplicate carries the same
 * X-Guardian-Delivery as its first copy, so a receiver can drop it.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';

const ADMIN = 'push-crash-admin-token-0123456789';
const BANNER = 'running / 已启动';
const BURST = 100;

interface Arrival {
  readonly delivery: string;
  readonly number: string;
}

/** A webhook receiver that takes 30 ms per request, so the kill lands with messages in flight. */
async function slowReceiver(): Promise<{ url: string; arrivals: Arrival[]; server: Server }> {
  const arrivals: Arrival[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as { items: Array<{ workOrder: { number: string } }> };
      for (const item of body.items) arrivals.push({ delivery: String(req.headers['x-guardian-delivery']), number: item.workOrder.number });
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 30);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals, server };
}

describe('pushes across a crash (kill -9 during a burst)', () => {
  const dir = tempDir('guardian-push-crash-');
  const processes: GuardianProcess[] = [];
  let receiver: Awaited<ReturnType<typeof slowReceiver>> | undefined;
  afterAll(async () => {
    for (const p of processes) await p.stop();
    await new Promise((r) => receiver?.server.close(r));
    dir.remove();
  });

  const start = async () => {
    const engine = GuardianProcess.spawn(['start', '--config', join(dir.path, 'guardian.config.yaml')], {
      GUARDIAN_DATA_DIR: join(dir.path, 'data'),
      GUARDIAN_HTTP_PORT: '0',
      GUARDIAN_MQTT_PORT: '0',
      GUARDIAN_ADMIN_TOKEN: ADMIN,
      GUARDIAN_SIMULATE: 'false',
    });
    processes.push(engine);
    await engine.waitForOutput(BANNER, 90_000);
    const url = /HTTP API:\s+(http:\/\/\S+)/.exec(engine.output())?.[1];
    if (!url) throw new Error(`no HTTP API address in:\n${engine.output()}`);
    return { engine, url };
  };

  it('delivers every notification; duplicates only from the in-flight window, under their first delivery id', async () => {
    receiver = await slowReceiver();
    writeFileSync(
      join(dir.path, 'fleet.yaml'),
      `sites:\n  - { id: h1, name: 测试医院 }\ndevices:\n  - { id: MR-1, site: h1, modality: MR, vendor: Siemens, model: Avanto }\n`,
    );
    writeFileSync(
      join(dir.path, 'guardian.config.yaml'),
      [
        `fleetFile: ${JSON.stringify(join(dir.path, 'fleet.yaml'))}`,
        'notify:',
        '  lease: 5s',
        '  channels:',
        `    hook: { type: webhook, url: "${receiver.url}/hook", secret: "push-crash-webhook-secret-0123" }`,
        '  people:',
        '    zhang: { name: 张伟, channels: [hook] }',
        '  rotations:',
        '    - { id: h1-primary, sites: [h1], members: [zhang] }',
        '',
      ].join('\n'),
    );
    const first = await start();
    const numbers: string[] = [];
    // The burst: 100 faults reported by phone as fast as the API takes them.
    await Promise.all(
      Array.from({ length: BURST }, async (_, i) => {
        const response = await fetch(`${first.url}/api/work-orders`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ deviceId: 'MR-1', channel: 'hotline', grade: 'general', title: `报修 ${i}`, phenomenon: '扫描中断', reporter: { name: '护士长' } }),
        });
        expect(response.status).toBe(201);
        numbers.push(((await response.json()) as { number: string }).number);
      }),
    );
    await waitFor(() => receiver!.arrivals.length >= 20, { timeoutMs: 30_000, intervalMs: 5, what: 'the burst to be under way' }).catch((error: unknown) => {
      throw new Error(`${String(error)}; ${receiver!.arrivals.length} arrived; the engine said:\n${first.engine.output().slice(-4_000)}`);
    });
    await first.engine.crash();
    const atKill = receiver.arrivals.length;
    expect(atKill).toBeLessThan(BURST);

    await start();
    await waitFor(() => new Set(receiver!.arrivals.map((a) => a.number)).size >= BURST, { timeoutMs: 60_000, what: 'every notification after the restart' });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(new Set(receiver.arrivals.map((a) => a.number))).toEqual(new Set(numbers));
    // A number that arrived twice came under one delivery id both times.
    const byNumber = new Map<string, Set<string>>();
    for (const a of receiver.arrivals) byNumber.set(a.number, (byNumber.get(a.number) ?? new Set()).add(a.delivery));
    for (const [number, ids] of byNumber) expect(ids.size, `delivery ids of ${number}`).toBe(1);
    // Duplicates are at most what was in flight: the notifier sends up to 16 at once.
    const duplicates = receiver.arrivals.length - byNumber.size;
    expect(duplicates).toBeLessThanOrEqual(16);
  }, 180_000);
});
