/**
 * One of two processes racing to open work orders for the same fault identities on one
 * PostgreSQL database (test/integration/work-order-race.test.ts). Prints `ready` once connected
 * and waits for a line on stdin, so both processes fire together; then prints a JSON summary.
 */
import { createInterface } from 'node:readline';
import { openSqlDatabase } from '../../src/storage/sql/database.js';
import { SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';

const [url, name] = process.argv.slice(2);
const IDENTITIES = 20;
const ROUNDS = 5;

const db = await openSqlDatabase({ url: url!, sqliteFile: '' });
const store = new SqlWorkOrderStore(db.db);
await db.db.selectFrom('work_orders').select('id').limit(1).execute();
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.once('line', () => resolve()));
lines.close();
let created = 0;
const ids: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const results = await Promise.all(
    Array.from({ length: IDENTITIES }, (_, i) =>
      store.openForIdentity(
        {
          identity: `MR-${i}/helium-level-low`,
          kind: 'corrective',
          channel: 'auto',
          grade: 'general',
          siteId: 'h1',
          deviceId: `MR-${i}`,
          device: { modality: 'MR', vendor: 'Siemens', model: 'Avanto' },
          faultType: 'cryogenics',
          title: 'helium low',
          phenomenon: 'helium low',
          alarmCodes: [],
          faultAt: Date.now(),
          reportedAt: Date.now(),
          reportedBy: name!,
        },
        { ts: Date.now(), actor: name!, kind: 'created', to: 'new' },
        'Asia/Shanghai',
      ),
    ),
  );
  for (const r of results) {
    if (r.created) created += 1;
    ids.push(r.workOrder.id);
  }
}
await db.close();
process.stdout.write(`${JSON.stringify({ name, created, ids })}\n`);
