/**
 * A silence may hold notifications for `silences.maxDuration` (30 days by default) at most. A
 * one-off window is measured from start to end; a recurring one per window, windows back to back
 * counting as one (a daily 00:00–24:00 schedule would hold everything for ever).
 */
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuleSet } from '../../rules/rule-set.js';
import type { ApiContext } from '../../src/api/context.js';
import { buildApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/app/log.js';
import { TokenService } from '../../src/auth/tokens.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import { DEFAULT_SILENCE_MAX_DURATION_MS, describeLength, silenceLengthIssue } from '../../src/silences/limits.js';
import { longestStretch, SilenceSpecSchema, toSilence, windowAtOrAfter, type Silence, type SilenceSpecInput } from '../../src/silences/schedule.js';
import { SilenceService } from '../../src/silences/silence-service.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { SilenceRepository } from '../../src/storage/sql/silence-repository.js';
import { ApiTokenRepository } from '../../src/storage/sql/token-repository.js';
import { tempDir } from '../helpers.js';

const ADMIN = 'test-admin-token-0123456789';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Tuesday 1 December 2026, 00:00 in Shanghai. */
const T0 = Date.parse('2026-12-01T00:00:00+08:00');
const MAX = 30 * DAY;

const silence = (spec: Omit<SilenceSpecInput, 'author' | 'reason'>) =>
  toSilence(SilenceSpecSchema.parse({ author: '张工', reason: '保养', ...spec }), { id: 's', createdAt: T0, updatedAt: T0 });
const window = (startsAt: number, endsAt: number) => ({ startsAt: new Date(startsAt).toISOString(), endsAt: new Date(endsAt).toISOString() });

describe('silenceLengthIssue', () => {
  it('measures a one-off window from start to end', () => {
    expect(silenceLengthIssue(silence({ scope: { siteId: 'h1' }, window: window(T0, T0 + MAX) }), T0, MAX)).toBeUndefined();
    expect(silenceLengthIssue(silence({ scope: { siteId: 'h1' }, window: window(T0, T0 + MAX + 1) }), T0, MAX)?.path).toBe('window');
    // Begun long ago and ending tomorrow: its length is what counts, not what is left.
    const issue = silenceLengthIssue(silence({ scope: { siteId: 'h1' }, window: window(T0 - 44 * DAY, T0 + DAY) }), T0, MAX);
    expect(issue).toEqual({ path: 'window', message: 'lasts 45 days; a silence may last at most 30 days (silences.maxDuration): split it, or set a shorter window' });
  });

  it('measures a recurring silence per window, by duration or from start to end across midnight', () => {
    const weekly = silence({ scope: { siteId: 'h1' }, schedule: { weekdays: ['tuesday'], times: [{ start: '02:00', end: '04:00' }] } });
    expect(silenceLengthIssue(weekly, T0, MAX)).toBeUndefined();
    const long = silence({ scope: { siteId: 'h1' }, schedule: { months: ['july'], daysOfMonth: [1], times: [{ start: '00:00', duration: '31d' }] } });
    expect(silenceLengthIssue(long, T0, MAX)).toEqual({ path: 'schedule.times.0', message: 'each window lasts 31 days; a silence may last at most 30 days (silences.maxDuration)' });
    const overnight = silence({ scope: { siteId: 'h1' }, schedule: { weekdays: ['saturday'], times: [{ start: '22:00', end: '06:00' }] } });
    expect(silenceLengthIssue(overnight, T0, 7 * HOUR)).toEqual({ path: 'schedule.times.0', message: 'each window lasts 8 hours; a silence may last at most 7 hours (silences.maxDuration)' });
    expect(silenceLengthIssue(overnight, T0, 8 * HOUR)).toBeUndefined();
  });

  it('counts windows that follow each other without a gap as one', () => {
    const always = silence({ scope: { siteId: 'h1' }, schedule: { times: [{ start: '00:00', end: '24:00' }] } });
    const issue = silenceLengthIssue(always, T0, MAX);
    expect(issue?.path).toBe('schedule');
    expect(issue?.message).toMatch(/^its windows follow each other without a gap for (\d+(\.\d)? days|without end) from /);
    // Weekdays only, 00:00–24:00: five days at a time, within a week's limit, not within four days.
    const workweek = silence({ scope: { siteId: 'h1' }, schedule: { weekdays: ['monday:friday'], times: [{ start: '00:00', end: '24:00' }] } });
    expect(silenceLengthIssue(workweek, T0, 7 * DAY)).toBeUndefined();
    expect(silenceLengthIssue(workweek, T0, 4 * DAY)?.message).toMatch(/without a gap for 5 days from /);
    // Overlapping windows chain too: 20:00 for 1d12h every day never stops.
    const chained = silence({ scope: { siteId: 'h1' }, schedule: { times: [{ start: '20:00', duration: '1d12h' }] } });
    expect(silenceLengthIssue(chained, T0, MAX)?.path).toBe('schedule');
    // A series without an end date is fine when its windows are short.
    expect(silenceLengthIssue(silence({ scope: { siteId: 'h1' }, schedule: { times: [{ start: '02:00', end: '04:00' }] } }), T0, MAX)).toBeUndefined();
  });

  it('describes lengths as people say them; the default is 30 days, and the setting takes durations', () => {
    expect(describeLength(45 * DAY)).toBe('45 days');
    expect(describeLength(36 * HOUR)).toBe('1.5 days');
    expect(describeLength(90 * 60_000)).toBe('1.5 hours');
    expect(DEFAULT_SILENCE_MAX_DURATION_MS).toBe(MAX);
    expect(ConfigSchema.parse({}).silences.maxDuration).toBe(MAX);
    expect(ConfigSchema.parse({ silences: { maxDuration: '14d' } }).silences.maxDuration).toBe(14 * DAY);
    expect(ConfigSchema.safeParse({ silences: { maxDuration: 'soon' } }).success).toBe(false);
  });
});

describe('longestStretch', () => {
  /** The reference: the merged windows walked one by one with windowAtOrAfter, the exact evaluation. */
  const walked = (s: Silence, from: number, until: number) => {
    let best: { start: number; end: number } | undefined;
    for (let at = from, guard = 0; guard < 2_000; guard++) {
      const w = windowAtOrAfter(s, at);
      if (!w || w.start >= until) break;
      if (!best || w.end - w.start > best.end - best.start) best = w;
      if (w.end === Infinity) break;
      at = w.end;
    }
    return best;
  };
  const time = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 30)).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
  const range = fc.oneof(
    fc.tuple(time, time).filter(([a, b]) => a !== b).map(([start, end]) => ({ start, end })),
    fc.tuple(time, fc.constantFrom('30m', '2h', '23h', '1d', '1d12h', '3d')).map(([start, duration]) => ({ start, duration })),
  );

  it('agrees with the exact walk of merged windows, across daylight saving changes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('Europe/Berlin', 'America/New_York', 'Asia/Shanghai', 'Australia/Lord_Howe'),
        fc.subarray(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']),
        fc.array(range, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 365 }),
        (timezone, weekdays, times, startDay) => {
          const s = silence({ scope: { siteId: 'h1' }, timezone, schedule: { weekdays, times } });
          const from = Date.UTC(2026, 0, 1) + startDay * DAY;
          const until = from + 30 * DAY;
          const mine = longestStretch(s, from, until);
          const reference = walked(s, from, until);
          expect(mine && mine.end - mine.start).toBe(reference && Math.min(reference.end, mine!.end) - reference.start);
        },
      ),
      // Lord Howe's day is 24.5 h when its clocks go back: daily 1d windows leave a 30-minute gap,
      // and the stretch after it, begun before `until`, runs on for a year.
      { numRuns: 40, examples: [['Australia/Lord_Howe', [], [{ start: '00:00', duration: '1d' }], 65]] },
    );
  });
});

describe('the silences API refuses silences over the limit', () => {
  const dir = tempDir();
  let sql: SqlDatabase;
  let app: FastifyInstance;
  const now = T0;

  const call = async (method: 'POST' | 'PATCH', url: string, payload: Record<string, unknown>) => {
    const response = await app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN}` }, payload });
    return { status: response.statusCode, body: response.json<{ error: string; message: string; issues?: Array<{ path: string; message: string }> }>() };
  };
  const oneOff = (startsAt: number, endsAt: number) => ({ scope: { deviceId: 'yt-mr-01' }, author: '张工', reason: '更换冷头', window: window(startsAt, endsAt) });

  beforeAll(async () => {
    sql = await openSqlDatabase({ sqliteFile: join(dir.path, 'guardian.db') });
    await migrateToLatest(sql);
    const registry = await DeviceRegistry.open(new SqlDeviceStore(sql.db), () => now);
    await registry.upsertSite({ id: 'yantai', name: '烟台医院' });
    await registry.upsert({ id: 'yt-mr-01', site: 'yantai', modality: 'MR', vendor: 'Siemens', model: 'Avanto' }, 'api');
    const rules = new RuleSet(join(import.meta.dirname, '../../rules/packs'));
    expect((await rules.load()).ok).toBe(true);
    const ctx: ApiContext = {
      registry,
      rules,
      alerts: { list: () => [], states: () => [] },
      workOrders: {} as ApiContext['workOrders'],
      workOrderQuery: {} as ApiContext['workOrderQuery'],
      tokens: new TokenService(new ApiTokenRepository(sql.db)),
      telemetry: {} as ApiContext['telemetry'],
      deadLetters: {} as ApiContext['deadLetters'],
      events: {} as ApiContext['events'],
      // As the engine wires it from silences.maxDuration, here 14 days.
      silences: await SilenceService.open(new SilenceRepository(sql.db), { now: () => now, maxDurationMs: 14 * DAY }),
      silenceQuery: new SilenceRepository(sql.db),
      metrics: new Registry(),
      readiness: [],
      adminToken: ADMIN,
      logger: silentLogger(),
      now: () => now,
      version: 'test',
    };
    app = await buildApiServer(ctx);
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await sql?.close();
    dir.remove();
  });

  it('answers 400 naming the limit and the setting for a one-off window', async () => {
    expect((await call('POST', '/api/silences', { id: 'ok', ...oneOff(now, now + 14 * DAY) })).status).toBe(201);
    const refused = await call('POST', '/api/silences', oneOff(now, now + 15 * DAY));
    expect(refused).toEqual({
      status: 400,
      body: {
        error: 'too_long',
        message: 'body.window: lasts 15 days; a silence may last at most 14 days (silences.maxDuration): split it, or set a shorter window',
        issues: [{ path: 'body.window', message: 'lasts 15 days; a silence may last at most 14 days (silences.maxDuration): split it, or set a shorter window' }],
      },
    });
  });

  it('refuses a change that makes a silence too long', async () => {
    const longer = await call('PATCH', '/api/silences/ok', { window: window(now, now + 20 * DAY) });
    expect(longer.status).toBe(400);
    expect(longer.body.error).toBe('too_long');
    expect((await call('PATCH', '/api/silences/ok', { window: window(now, now + 7 * DAY) })).status).toBe(200);
  });

  it('measures recurring silences per window, back-to-back windows as one; a series needs no end date', async () => {
    const weekly = await call('POST', '/api/silences', { scope: { siteId: 'yantai' }, author: '张工', reason: '每周二保养', schedule: { weekdays: ['tuesday'], times: [{ start: '02:00', end: '04:00' }] } });
    expect(weekly.status).toBe(201);
    const always = await call('POST', '/api/silences', { scope: { siteId: 'yantai' }, author: '张工', reason: 'x', schedule: { times: [{ start: '00:00', end: '24:00' }] } });
    expect(always.status).toBe(400);
    expect(always.body.issues?.[0]?.path).toBe('body.schedule');
    expect(always.body.message).toContain('a silence may last at most 14 days (silences.maxDuration), and windows back to back count as one');
    const oneLong = await call('POST', '/api/silences', { scope: { siteId: 'yantai' }, author: '张工', reason: 'x', schedule: { daysOfMonth: [1], times: [{ start: '00:00', duration: '20d' }] } });
    expect(oneLong.status).toBe(400);
    expect(oneLong.body.issues?.[0]).toEqual({ path: 'body.schedule.times.0', message: 'each window lasts 20 days; a silence may last at most 14 days (silences.maxDuration)' });
  });
});
