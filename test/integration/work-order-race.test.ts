import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openSqlDatabase } from '../../src/storage/sql/database.js';
import { needs } from '../support/servers.js';
import { postgresTarget } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const suite = needs('two engine processes racing on PostgreSQL open one work order per fault', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

interface Summary {
  name: string;
  created: number;
  ids: number[];
}

/** Starts both openers, lets them connect, then releases them at the same moment. */
async function race(url: string): Promise<Summary[]> {
  const children = ['engine-a', 'engine-b'].map((name) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../support/race-opener.ts'), url, name], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const ready = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.startsWith('ready\n')) resolve();
      }),
    );
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<Summary>((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.slice('ready\n'.length).trim()) as Summary) : reject(new Error(`${name} exited ${code}: ${err}`)))),
    );
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.child.stdin.write('go\n');
  return Promise.all(children.map((c) => c.done));
}

describe.skipIf(suite.skip)(suite.title, () => {
  const target = suite.skip ? undefined : postgresTarget(PG_URL!);
  afterAll(() => target?.cleanup());

  const prepare = async (withoutConstraint: boolean) => {
    const { url } = await target!.fresh();
    const db = await openSqlDatabase({ url: url!, sqliteFile: '' });
    await migrateToLatest(db);
    if (withoutConstraint) await sql`drop index work_orders_open_identity`.execute(db.db);
    return { url: url!, db };
  };

  it('20 faults × 5 rounds from two processes at once open 20 work orders, numbered without gaps', async () => {
    const { url, db } = await prepare(false);
    const [a, b] = await race(url);
    expect(a!.created + b!.created).toBe(20);
    // Both processes got the same work order for each fault.
    expect(new Set([...a!.ids, ...b!.ids]).size).toBe(20);
    const rows = await db.db.selectFrom('work_orders').select(['identity', 'number']).execute();
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r.identity)).size).toBe(20);
    const month = rows[0]!.number.slice(3, 9);
    expect(rows.map((r) => r.number).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `WO-${month}-${String(i + 1).padStart(4, '0')}`));
    await db.close();
  }, 60_000);

  it('control: without the partial unique index the same race does open duplicates, so the constraint is what prevents them', async () => {
    const { url, db } = await prepare(true);
    await race(url);
    const rows = await db.db.selectFrom('work_orders').select('identity').execute();
    expect(rows.length).toBeGreaterThan(20);
    await db.close();
  }, 60_000);
});
