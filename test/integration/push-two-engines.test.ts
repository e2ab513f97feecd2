/**
 * Two engine processes on one PostgreSQL database, each with its own data directory, broker and
 * HTTP port, one webhook receiver: work orders opened through either engine are pushed once each
 * (the notifiers claim notices and deliveries with FOR UPDATE SKIP LOCKED), and an acknowledge
 * link made by one engine works on the other (they share notify.linkSecret).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';
import { ROBOT_OK, startHttpReceiver, type HttpReceiver } from '../support/receivers.js';
import { needs } from '../support/servers.js';
import { withSearchPath } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const suite = needs('pushes from two engines on one PostgreSQL', PG_URL !== undefined, `no PostgreSQL at ${PG_URL ?? 'GUARDIAN_TEST_DATABASE_URL'}`);

const ADMIN = 'push-two-engines-admin-token-0123';
const BANNER = 'running / 已启动';
const PER_ENGINE = 30;

interface Body {
  event: string;
  items: Array<{ workOrder: { number: string }; links: { acknowledge?: string } }>;
}

describe.skipIf(suite.skip)(suite.title, () => {
  const dir = tempDir('guardian-push-two-');
  const schema = `guardian_t_${randomBytes(6).toString('hex')}`;
  let admin: pg.Pool;
  let hook: HttpReceiver;
  const engines: Array<{ process: GuardianProcess; url: string }> = [];

  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
    await admin.query(`create schema ${schema}`);
    hook = await startHttpReceiver({ respond: ROBOT_OK });
    writeFileSync(join(dir.path, 'fleet.yaml'), `sites:\n  - { id: h1, name: 测试医院 }\ndevices:\n  - { id: MR-1, site: h1, modality: MR, vendor: Siemens, model: Avanto }\n`);
    writeFileSync(
      join(dir.path, 'guardian.config.yaml'),
      [
        `fleetFile: ${JSON.stringify(join(dir.path, 'fleet.yaml'))}`,
        'notify:',
        '  linkSecret: "a-link-secret-both-engines-share-0123456789"',
        '  channels:',
        `    hook: { type: webhook, url: "${hook.url}/hook", secret: "two-engines-webhook-secret" }`,
        '  people:',
        '    zhang: { name: 张伟, channels: [hook] }',
        '  rotations:',
        '    - { id: h1-primary, sites: [h1], members: [zhang] }',
        '',
      ].join('\n'),
    );
    const started = ['a', 'b'].map((name) =>
      GuardianProcess.spawn(['start', '--config', join(dir.path, 'guardian.config.yaml')], {
        GUARDIAN_DATABASE_URL: withSearchPath(PG_URL!, schema),
        GUARDIAN_DATA_DIR: join(dir.path, name),
        GUARDIAN_HTTP_PORT: '0',
        GUARDIAN_MQTT_PORT: '0',
        GUARDIAN_MQTT_CLIENT_ID: `guardian-${name}`,
        GUARDIAN_ADMIN_TOKEN: ADMIN,
        GUARDIAN_SIMULATE: 'false',
      }),
    );
    for (const process of started) {
      await process.waitForOutput(BANNER, 90_000);
      const url = /HTTP API:\s+(http:\/\/\S+)/.exec(process.output())?.[1];
      if (!url) throw new Error(`no HTTP API address in:\n${process.output()}`);
      engines.push({ process, url });
    }
  }, 180_000);

  afterAll(async () => {
    for (const { process } of engines) await process.stop();
    await hook?.close();
    await admin?.query(`drop schema if exists ${schema} cascade`);
    await admin?.end();
    dir.remove();
  });

  const report = async (engine: number, i: number): Promise<string> => {
    const response = await fetch(`${engines[engine]!.url}/api/work-orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'MR-1', channel: 'hotline', grade: 'general', title: `报修 ${engine}-${i}`, phenomenon: '图像伪影', reporter: { name: '技师' } }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { number: string }).number;
  };

  it('pushes every work order once, whichever engine opened it', async () => {
    const numbers = await Promise.all([...Array.from({ length: PER_ENGINE }, (_, i) => report(0, i)), ...Array.from({ length: PER_ENGINE }, (_, i) => report(1, i))]);
    await hook.waitFor(2 * PER_ENGINE, 30_000);
    // Both engines poll every second: give a duplicate time to show up.
    await new Promise((r) => setTimeout(r, 3_000));
    const pushed = hook.requests.filter((r) => (r.json as Body).event === 'opened').flatMap((r) => (r.json as Body).items.map((i) => i.workOrder.number));
    expect(pushed).toHaveLength(2 * PER_ENGINE);
    expect(new Set(pushed)).toEqual(new Set(numbers));
  }, 90_000);

  it('an acknowledge link from one engine works on the other, once', async () => {
    const number = await report(0, 999);
    const request = await waitFor(() => hook.requests.find((r) => (r.json as Body).items.some((i) => i.workOrder.number === number)), { what: 'the push' });
    const link = (request.json as Body).items[0]!.links.acknowledge!;
    const path = new URL(link).pathname;
    const first = await fetch(`${engines[1]!.url}${path}`, { method: 'POST' });
    expect(first.status).toBe(200);
    const again = await fetch(`${engines[0]!.url}${path}`, { method: 'POST' });
    expect(again.status).toBe(409);
    const wo = await fetch(`${engines[0]!.url}/api/work-orders/${number}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(((await wo.json()) as { status: string; acknowledgedBy: string })).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'zhang' });
  }, 60_000);
});
