import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  INFLUX_LAYOUT,
  InfluxRequestError,
  influxIdent,
  influxString,
  openInfluxTelemetryStore,
  type InfluxTelemetryStore,
  type InfluxTelemetryStoreOptions,
} from '../../src/storage/influx-telemetry-store.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { describeTelemetryStoreContract } from '../contract/telemetry-store.contract.js';
import { freePort, needs } from '../support/servers.js';

const INFLUX_URL = process.env.GUARDIAN_TEST_INFLUX_URL?.trim() || undefined;
const SKIP_REASON = 'no InfluxDB at GUARDIAN_TEST_INFLUX_URL';
// In CI a missing server fails the run instead of skipping these suites.
needs('InfluxDB telemetry store', INFLUX_URL !== undefined, SKIP_REASON);

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2024, 2, 1);

function sample(deviceId: string, metric: string, ts: number, value: number): Sample {
  return { deviceId, metric, ts, value };
}

function uniqueDatabase(): string {
  return `guardian_test_${randomBytes(6).toString('hex')}`;
}

/** InfluxQL against the test server, bypassing the store (to look at the layout itself). */
async function influxql(db: string | undefined, q: string): Promise<{ columns: string[]; values: unknown[][]; tags?: Record<string, string> }[]> {
  const params = new URLSearchParams({ q, epoch: 'ms' });
  if (db !== undefined) params.set('db', db);
  const res = await fetch(`${INFLUX_URL}/query`, { method: 'POST', body: params });
  const body = (await res.json()) as { results: { series?: { columns: string[]; values: unknown[][] }[]; error?: string }[] };
  const first = body.results[0];
  if (first?.error) throw new Error(first.error);
  return first?.series ?? [];
}

const contractDb = uniqueDatabase();
const databases: string[] = [contractDb];
const opened: InfluxTelemetryStore[] = [];

async function open(database: string, extra: Partial<InfluxTelemetryStoreOptions> = {}): Promise<InfluxTelemetryStore> {
  const store = await openInfluxTelemetryStore({ url: INFLUX_URL as string, bucket: database, timeoutMs: 20_000, ...extra });
  opened.push(store);
  return store;
}

afterAll(async () => {
  for (const s of opened.splice(0)) await s.close();
  if (INFLUX_URL !== undefined) {
    for (const db of databases) await influxql(undefined, `DROP DATABASE ${influxIdent(db)}`);
  }
});

describeTelemetryStoreContract(
  INFLUX_URL === undefined ? 'InfluxTelemetryStore' : `InfluxTelemetryStore (${INFLUX_URL})`,
  () => openInfluxTelemetryStore({ url: INFLUX_URL as string, bucket: contractDb, timeoutMs: 20_000 }),
  INFLUX_URL === undefined ? { skip: SKIP_REASON } : {},
);

describe('InfluxQL quoting', () => {
  it('escapes identifiers and string literals', () => {
    expect(influxIdent('plain')).toBe('"plain"');
    expect(influxIdent('a "b" \\ c\nd')).toBe('"a \\"b\\" \\\\ c\\nd"');
    expect(influxString("it's \\ \"x\"\n")).toBe("'it\\'s \\\\ \"x\"\\n'");
  });

  it('documents its layout', () => {
    for (const word of ['telemetry', 'telemetry_1h', 'device', 'site', 'modality', 'model', '_count', 'ms precision']) {
      expect(INFLUX_LAYOUT).toContain(word);
    }
  });
});

describe('InfluxTelemetryStore without a server', () => {
  it('opens, then rejects writes and pings while nothing listens', async () => {
    const port = await freePort();
    const store = await openInfluxTelemetryStore({ url: `http://127.0.0.1:${port}`, bucket: 'nowhere', timeoutMs: 2_000 });
    try {
      await expect(store.write([sample('ct-1', 'm', BASE, 1)])).rejects.toThrow(InfluxRequestError);
      await expect(store.ping()).rejects.toThrow(/ECONNREFUSED|failed/);
      // Validation comes first: an invalid batch is a RangeError even with the server away.
      await expect(store.write([sample('ct-1', 'm', BASE + 0.5, 1)])).rejects.toThrow(RangeError);
    } finally {
      await store.close();
    }
  });

  describe('against a stand-in server', () => {
    // Answers like a 1.6 server (no /api/v2/write) or, with `version` 2.x, like a 2.x one; write
    // requests get `writeStatus` (0: no answer at all; -1: half an answer, then the connection drops).
    let server: Server;
    let url: string;
    const requests: { path: string; headers: IncomingMessage['headers']; body: Buffer }[] = [];
    let version = '1.6.7';
    let writeStatus = 503;

    beforeAll(async () => {
      server = createServer((req: IncomingMessage, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const path = req.url ?? '';
          const body = Buffer.concat(chunks);
          requests.push({ path, headers: req.headers, body });
          const v2 = version.startsWith('v2');
          if (path.startsWith('/ping')) {
            res.writeHead(204, { 'X-Influxdb-Version': version }).end();
          } else if (path.startsWith('/query')) {
            res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"results":[{"statement_id":0}]}');
          } else if (path.startsWith('/api/v2/write') && !v2) {
            res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found');
          } else if (body.length === 0) {
            res.writeHead(204).end();
          } else if (writeStatus === 0) {
            // A server that took the request and never answers.
          } else if (writeStatus === -1) {
            res.writeHead(200, { 'Content-Length': '100' });
            res.write('{"err', () => req.socket.destroy());
          } else {
            res.writeHead(writeStatus, { 'Content-Type': 'application/json' });
            res.end(writeStatus === 204 ? undefined : '{"error":"engine: cache maximum memory size exceeded"}');
          }
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    afterEach(() => {
      requests.length = 0;
      version = '1.6.7';
    });

    const writes = (): typeof requests => requests.filter((r) => r.body.length > 0 && /^\/(write|api\/v2\/write)\?/.test(r.path));

    it('rejects with the server message, and sends nothing in the background afterwards', async () => {
      writeStatus = 503;
      const store = await openInfluxTelemetryStore({ url, bucket: 'b' });
      try {
        const err = await store.write([sample('ct-1', 'm', BASE, 1)]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InfluxRequestError);
        expect((err as InfluxRequestError).status).toBe(503);
        expect((err as Error).message).toContain('cache maximum memory size exceeded');
        expect(writes().map((r) => r.path)).toEqual(['/write?db=b&precision=ms']);
        await new Promise((r) => setTimeout(r, 300));
        expect(writes()).toHaveLength(1);
      } finally {
        await store.close();
      }
    });

    it('gives up on a write that gets no answer within the timeout, and writes again once the server answers', async () => {
      writeStatus = 0;
      const store = await openInfluxTelemetryStore({ url, bucket: 'b', timeoutMs: 300 });
      try {
        const started = Date.now();
        const err = await store.write([sample('ct-1', 'm', BASE, 1)]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InfluxRequestError);
        expect((err as InfluxRequestError).status).toBeUndefined();
        expect((err as Error).message).toMatch(/no answer within 300 ms/);
        expect(Date.now() - started).toBeLessThan(5_000);
        writeStatus = 204;
        await store.write([sample('ct-1', 'm', BASE, 2)]);
        expect(writes().map((r) => r.body.toString('utf8'))).toEqual([`telemetry,device=ct-1 m=1 ${BASE}`, `telemetry,device=ct-1 m=2 ${BASE}`]);
      } finally {
        await store.close();
      }
    });

    it('fails a write whose connection drops in the middle of the answer', async () => {
      writeStatus = -1;
      const store = await openInfluxTelemetryStore({ url, bucket: 'b', timeoutMs: 10_000 });
      try {
        const err = await store.write([sample('ct-1', 'm', BASE, 1)]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InfluxRequestError);
        expect((err as InfluxRequestError).status).toBeUndefined();
      } finally {
        await store.close();
      }
    });

    it('writes to a URL whose scheme is written in capitals', async () => {
      writeStatus = 204;
      const store = await openInfluxTelemetryStore({ url: url.replace('http://', 'HTTP://'), bucket: 'b' });
      try {
        await store.write([sample('ct-1', 'm', BASE, 1)]);
        expect(writes().map((r) => r.body.toString('utf8'))).toEqual([`telemetry,device=ct-1 m=1 ${BASE}`]);
      } finally {
        await store.close();
      }
    });

    it('treats a partial write (400) as a failure', async () => {
      writeStatus = 400;
      const store = await openInfluxTelemetryStore({ url, bucket: 'b', retentionPolicy: 'one year' });
      try {
        await expect(store.write([sample('ct-1', 'm', BASE, 1)])).rejects.toThrow(/400/);
        expect(writes().map((r) => r.path)).toEqual(['/write?db=b&rp=one+year&precision=ms']);
      } finally {
        await store.close();
      }
    });

    it('splits a large write into gzipped requests and resolves once all are acknowledged', async () => {
      writeStatus = 204;
      const store = await openInfluxTelemetryStore({ url, bucket: 'b', gzip: true });
      try {
        const batch: Sample[] = [];
        for (let i = 0; i < 12_000; i++) batch.push(sample(`ct-${i % 3}`, 'm', BASE + Math.floor(i / 3) * 1_000, i));
        await store.write(batch);
        const sent = writes();
        expect(sent).toHaveLength(3);
        expect(sent.every((r) => r.headers['content-encoding'] === 'gzip')).toBe(true);
        const lines = sent.flatMap((r) => gunzipSync(r.body).toString('utf8').split('\n'));
        // Two requests are in flight at once, so they may arrive in either order.
        expect(new Set(lines).size).toBe(12_000);
        expect(lines).toContain(`telemetry,device=ct-0 m=0 ${BASE}`);
        expect(lines).toContain(`telemetry,device=ct-2 m=11999 ${BASE + 3_999_000}`);
      } finally {
        await store.close();
      }
    });

    it('sends each write its own lines when request bodies reuse the buffers of answered ones', async () => {
      writeStatus = 204;
      const store = await openInfluxTelemetryStore({ url, bucket: 'b' });
      try {
        const batch = (device: string, n: number, base: number) => Array.from({ length: n }, (_, i) => sample(device, 'm', base + i * 1_000, i));
        // Longer, then shorter: a reused buffer holds the longer body's bytes past the shorter one's end.
        await store.write(batch('ct-long-name', 3_000, BASE));
        await store.write(batch('ct-2', 1_000, BASE + 10_000_000));
        await store.write(batch('ct-3', 2_000, BASE + 20_000_000));
        const [first, second, third] = writes().map((w) => w.body.toString('utf8').split('\n'));
        expect(first).toHaveLength(3_000);
        expect(second).toEqual(Array.from({ length: 1_000 }, (_, i) => `telemetry,device=ct-2 m=${i} ${BASE + 10_000_000 + i * 1_000}`));
        expect(third).toHaveLength(2_000);
        expect(third!.every((line) => line.startsWith('telemetry,device=ct-3 '))).toBe(true);
      } finally {
        await store.close();
      }
    });

    it('does not compress by default when the server is on this host (gzip `auto`)', async () => {
      writeStatus = 204;
      const store = await openInfluxTelemetryStore({ url, bucket: 'b' });
      try {
        const batch = Array.from({ length: 300 }, (_, i) => sample('ct-1', 'm', BASE + i * 1_000, i));
        await store.write(batch);
        const [w] = writes();
        expect(w?.headers['content-encoding']).toBeUndefined();
        expect(w?.body.toString('utf8').split('\n')).toHaveLength(300);
      } finally {
        await store.close();
      }
    });

    it('on 2.x writes to /api/v2/write with the token, and leaves retention to the bucket', async () => {
      version = 'v2.7.4';
      writeStatus = 204;
      const store = await openInfluxTelemetryStore({ url, bucket: 'telemetry', org: 'hospital', token: 's3cret' });
      try {
        expect(await store.ready()).toMatchObject({ major: 2, writePath: 'v2', canDelete: false });
        await store.write([sample('ct-1', 'm', BASE, 1)]);
        const [w] = writes();
        expect(w?.path).toBe('/api/v2/write?org=hospital&bucket=telemetry&precision=ms');
        expect(w?.headers.authorization).toBe('Token s3cret');
        expect(await store.applyRetention({ rawMs: DAY, rollupMs: 365 * DAY }, BASE + 400 * DAY)).toEqual({
          rawDeleted: 0,
          rollupDeleted: 0,
        });
        // No CREATE DATABASE and no DELETE was attempted.
        const statements = requests
          .filter((r) => r.path.startsWith('/query'))
          .map((r) => new URLSearchParams(r.body.toString('utf8')).get('q') ?? '');
        expect(statements.filter((q) => /CREATE|DELETE/.test(q))).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
});

const specific = INFLUX_URL === undefined ? describe.skip : describe;

specific(`InfluxTelemetryStore specifics (${INFLUX_URL ?? `skipped: ${SKIP_REASON}`})`, () => {
  let db: string;
  beforeAll(() => {
    db = uniqueDatabase();
    databases.push(db);
  });

  it('creates the database on 1.x and picks the write endpoint the server has', async () => {
    const store = await open(db);
    const info = await store.ready();
    const v2 = await fetch(`${INFLUX_URL}/api/v2/write?bucket=${db}`, { method: 'POST', body: '' });
    expect(info.writePath).toBe(v2.status === 404 && !(await v2.text()).startsWith('{') ? 'v1' : 'v2');
    if (info.major === 1) {
      const dbs = await influxql(undefined, 'SHOW DATABASES');
      expect(dbs[0]?.values.flat()).toContain(db);
      expect(info.canDelete).toBe(true);
    }
    // Opening again is harmless.
    await open(db);
  });

  it('writes through the v1 endpoint when told to', async () => {
    const store = await open(db, { writeApi: 'v1' });
    expect((await store.ready()).writePath).toBe('v1');
    await store.write([sample('v1-dev', 'm', BASE, 1.25), sample('v1-dev', 'm', BASE + 1, 2.5)]);
    expect(await store.raw({ deviceId: 'v1-dev', metric: 'm', from: BASE, to: BASE + HOUR })).toEqual([
      sample('v1-dev', 'm', BASE, 1.25),
      sample('v1-dev', 'm', BASE + 1, 2.5),
    ]);
  });

  it('groups samples of one device and instant into one point, one field per metric', async () => {
    const store = await open(db);
    await store.write([
      sample('grp', 'a', BASE, 1),
      sample('grp', 'b', BASE, 2),
      sample('grp', 'c', BASE, 3),
      sample('grp', 'a', BASE + MINUTE, 4),
      sample('grp-other', 'a', BASE, 5),
    ]);
    // A later write at the same instant adds a field to the same point.
    await store.write([sample('grp', 'd', BASE, 6)]);

    const series = await influxql(db, `SELECT "a", "b", "c", "d", "device"::tag FROM "telemetry" WHERE "device"::tag = 'grp'`);
    expect(series).toHaveLength(1);
    const cols = series[0]?.columns ?? [];
    const rows = (series[0]?.values ?? []).map((row) => Object.fromEntries(cols.map((c, i) => [c, row[i]])));
    expect(rows).toEqual([
      { time: BASE, a: 1, b: 2, c: 3, d: 6, device: 'grp' },
      { time: BASE + MINUTE, a: 4, b: null, c: null, d: null, device: 'grp' },
    ]);
    expect(await store.metrics('grp')).toEqual(['a', 'b', 'c', 'd']);
    expect(await store.metrics('grp-other')).toEqual(['a']);
  });

  it('stores device ids and metric names that would break naive quoting', async () => {
    const store = await open(db);
    const device = `x' OR "device"::tag != 'y \\q"; DROP DATABASE x; , a=b 中文`;
    const metric = `temp "°C" it's \\a,b=c\\\\x`;
    await store.write([sample(device, metric, BASE, 1), sample(device, metric, BASE + MINUTE, 3), sample(device, 'plain', BASE, 7)]);
    await store.write([sample('bystander', metric, BASE, 100)]);

    expect(await store.raw({ deviceId: device, metric, from: BASE, to: BASE + HOUR })).toEqual([
      sample(device, metric, BASE, 1),
      sample(device, metric, BASE + MINUTE, 3),
    ]);
    expect(await store.aggregate({ deviceId: device, metric, from: BASE, to: BASE + HOUR, step: HOUR })).toEqual([
      { ts: BASE, min: 1, mean: 2, max: 3, count: 2 },
    ]);
    expect(await store.latest(device)).toEqual([
      { metric: 'plain', ts: BASE, value: 7 },
      { metric, ts: BASE + MINUTE, value: 3 },
    ]);
    expect(await store.metrics(device)).toEqual(['plain', metric]);
    // An injection attempt in the filter matches nothing rather than everything.
    expect(await store.raw({ deviceId: `' OR '1'='1`, metric, from: BASE, to: BASE + HOUR })).toEqual([]);
    expect(await store.raw({ deviceId: 'bystander', metric: `${metric}" OR "x`, from: BASE, to: BASE + HOUR })).toEqual([]);
  });

  it('keeps a field named like a tag apart from the tag', async () => {
    const store = await open(db);
    await store.write([sample('tagname', 'device', BASE, 1), sample('tagname', 'site', BASE, 2)]);
    expect(await store.raw({ deviceId: 'tagname', metric: 'device', from: BASE, to: BASE + 1 })).toEqual([sample('tagname', 'device', BASE, 1)]);
    expect(await store.latest('tagname')).toEqual([
      { metric: 'device', ts: BASE, value: 1 },
      { metric: 'site', ts: BASE, value: 2 },
    ]);
  });

  it('rejects ids line protocol cannot carry, storing nothing of the batch', async () => {
    const store = await open(db);
    for (const bad of [sample('trail\\', 'm', BASE, 1), sample('nl\nx', 'm', BASE, 1), sample('ok', 'a\\ b', BASE, 1), sample('ok', 'time', BASE, 1)]) {
      await expect(store.write([sample('ok', 'm', BASE, 1), bad])).rejects.toThrow(RangeError);
    }
    expect(await store.metrics('ok')).toEqual([]);
  });

  it('tags points from tagsFor and still reads a device whose tags changed', async () => {
    let site = 'ward-1';
    const store = await open(db, { tagsFor: (id) => (id === 'tagged' ? { site, modality: 'MR', model: 'Magnetom Vida', other: 'x' } : undefined) });
    await store.write([sample('tagged', 'm', BASE, 1)]);
    site = 'ward 2';
    await store.write([sample('tagged', 'm', BASE + MINUTE, 2)]);

    const series = await influxql(db, `SHOW SERIES FROM "telemetry" WHERE "device" = 'tagged'`);
    expect(series[0]?.values.flat().filter((k) => String(k).includes('device=tagged,')).sort()).toEqual([
      'telemetry,device=tagged,modality=MR,model=Magnetom\\ Vida,site=ward-1',
      'telemetry,device=tagged,modality=MR,model=Magnetom\\ Vida,site=ward\\ 2',
    ]);
    expect(await store.raw({ deviceId: 'tagged', metric: 'm', from: BASE, to: BASE + HOUR })).toEqual([
      sample('tagged', 'm', BASE, 1),
      sample('tagged', 'm', BASE + MINUTE, 2),
    ]);
    expect(await store.aggregate({ deviceId: 'tagged', metric: 'm', from: BASE, to: BASE + HOUR, step: HOUR })).toEqual([
      { ts: BASE, min: 1, mean: 1.5, max: 2, count: 2 },
    ]);
  });

  describe('retention', () => {
    // Two hours of one point a minute (values 0..119), then an hour of raw data; retention with
    // the raw horizon at BASE + 2 h rolls up the first two hours. Each test has a database of its
    // own, since retention is database-wide.
    const policy = { rawMs: DAY, rollupMs: 365 * DAY };
    const now = BASE + 2 * HOUR + DAY;
    const q = { deviceId: 'mr-1', metric: 'm', from: BASE, to: BASE + 3 * HOUR };
    const hourly = [
      { ts: BASE, min: 0, max: 59, count: 60, mean: 29.5 },
      { ts: BASE + HOUR, min: 60, max: 119, count: 60, mean: 89.5 },
      { ts: BASE + 2 * HOUR, min: 120, max: 179, count: 60, mean: 149.5 },
    ];
    let own: string;
    const seeded = async (tagsFor?: InfluxTelemetryStoreOptions['tagsFor']): Promise<InfluxTelemetryStore> => {
      own = uniqueDatabase();
      databases.push(own);
      const store = await open(own, tagsFor ? { tagsFor } : {});
      const batch: Sample[] = [];
      for (let i = 0; i < 180; i++) batch.push(sample('mr-1', 'm', BASE + i * MINUTE, i));
      await store.write(batch);
      return store;
    };

    it('rolls up, deletes raw hours, and merges late writes as the SQLite adapter does', async () => {
      const store = await seeded((id) => ({ site: `site of ${id}` }));
      expect(await store.applyRetention(policy, now)).toEqual({ rawDeleted: 120, rollupDeleted: 0 });
      expect(await store.raw({ ...q, to: BASE + 2 * HOUR })).toEqual([]);
      expect(await store.aggregate({ ...q, step: HOUR })).toEqual(hourly);
      expect(await store.metrics('mr-1')).toEqual(['m']);

      await store.write([sample('mr-1', 'm', BASE + 30 * MINUTE + 1, -100)]);
      const expected = [{ ts: BASE, min: -100, max: 59, count: 61, mean: (1770 - 100) / 61 }, ...hourly.slice(1)];
      expect(await store.aggregate({ ...q, step: HOUR })).toEqual(expected);
      expect(await store.aggregate({ ...q, step: DAY })).toEqual([{ ts: BASE, min: -100, max: 179, count: 181, mean: (16110 - 100) / 181 }]);
      // Below an hour, rolled-up hours come back whole; the raw hour at the requested step.
      expect(await store.aggregate({ ...q, step: 30 * MINUTE })).toEqual([
        expected[0],
        expected[1],
        { ts: BASE + 2 * HOUR, min: 120, max: 149, count: 30, mean: 134.5 },
        { ts: BASE + 2 * HOUR + 30 * MINUTE, min: 150, max: 179, count: 30, mean: 164.5 },
      ]);

      expect(await store.applyRetention(policy, now)).toEqual({ rawDeleted: 1, rollupDeleted: 0 });
      expect(await store.aggregate({ ...q, step: HOUR })).toEqual(expected);
      expect(await store.applyRetention(policy, now)).toEqual({ rawDeleted: 0, rollupDeleted: 0 });
      expect(await store.aggregate({ ...q, step: HOUR })).toEqual(expected);

      // Roll-ups keep the tags of their series; the late sample made a second point in its hour.
      const rollups = await influxql(own, 'SELECT "m_count" FROM "telemetry_1h" GROUP BY *');
      expect(rollups.map((r) => r.tags)).toEqual([{ device: 'mr-1', site: 'site of mr-1' }]);
      const byHour = (rollups[0]?.values ?? []).map(([t, c]) => `${Math.floor((t as number) / HOUR) * HOUR - BASE}:${String(c)}`);
      expect(byHour.sort()).toEqual(['0:1', '0:60', `${HOUR}:60`]);
    });

    it('does not count raw points twice when a pass fails between roll-up and DELETE', async () => {
      const store = await seeded();
      const http = (store as unknown as { http: { query: (s: readonly string[]) => Promise<unknown> } }).http;
      const query = http.query.bind(http);
      let failed = false;
      http.query = async (statements) => {
        if (!failed && statements.some((s) => s.startsWith('DELETE'))) {
          failed = true;
          throw new Error('simulated timeout');
        }
        return query(statements);
      };
      await expect(store.applyRetention(policy, now)).rejects.toThrow('simulated timeout');
      // The roll-ups are written but the raw points are still there: read once, not twice.
      const rollups = await influxql(own, 'SELECT count("m_count") FROM "telemetry_1h"');
      expect(rollups[0]?.values[0]?.[1]).toBe(2);
      expect(await store.raw({ ...q, to: BASE + 2 * HOUR })).toHaveLength(120);
      expect(await store.aggregate({ ...q, step: HOUR })).toEqual(hourly);
      expect(await store.aggregate({ ...q, step: DAY })).toEqual([{ ts: BASE, min: 0, max: 179, count: 180, mean: 89.5 }]);

      expect(await store.applyRetention(policy, now)).toEqual({ rawDeleted: 120, rollupDeleted: 0 });
      expect(await store.aggregate({ ...q, step: HOUR })).toEqual(hourly);
    });

    it('collapses a re-sent copy of rolled-up samples instead of counting it again', async () => {
      const store = await seeded();
      await store.applyRetention(policy, now);
      const again: Sample[] = [];
      for (let i = 0; i < 60; i++) again.push(sample('mr-1', 'm', BASE + i * MINUTE, i));
      await store.write(again);
      await store.applyRetention(policy, now);
      expect(await store.aggregate({ ...q, step: HOUR })).toEqual(hourly);
    });

    it('deletes expired roll-ups and reports how many', async () => {
      const store = await seeded();
      await store.applyRetention(policy, now);
      const result = await store.applyRetention({ rawMs: DAY, rollupMs: DAY + HOUR }, now);
      expect(result).toEqual({ rawDeleted: 0, rollupDeleted: 1 });
      expect(await store.aggregate({ ...q, step: HOUR })).toEqual(hourly.slice(1));
    });
  });
});
