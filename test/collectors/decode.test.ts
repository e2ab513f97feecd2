import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeEvent, decodeStatus, decodeTelemetry, readJsonObject, type DecodeLimits } from '../../collectors/decode.js';
import { parseTopic } from '../../collectors/topic.js';
import { parseTimestamp } from '../../collectors/timestamp.js';

const NOW = Date.parse('2026-11-25T08:00:00Z');
const limits: DecodeLimits = {
  maxPayloadBytes: 1024,
  maxSamplesPerMessage: 10,
  maxMetricsPerSample: 5,
  futureToleranceMs: 5 * 60_000,
  maxAgeMs: 30 * 86_400_000,
  unknownMetrics: 'reject',
};
const bytes = (text: string) => new TextEncoder().encode(text);
const mr = (body: Record<string, unknown>, l: DecodeLimits = limits) => decodeTelemetry(body, 'MR-1', 'MR', NOW, l);

describe('topics', () => {
  it('parses the contract topics', () => {
    expect(parseTopic('guardian/site-a/MR-1/telemetry')).toEqual({ site: 'site-a', device: 'MR-1', kind: 'telemetry' });
    expect(parseTopic('guardian/site-a/CT-2/event')).toEqual({ site: 'site-a', device: 'CT-2', kind: 'event' });
    expect(parseTopic('guardian/site-a/CT-2/status')).toEqual({ site: 'site-a', device: 'CT-2', kind: 'status' });
  });
  it.each([
    'guardian/site-a/MR-1',
    'guardian/site-a/MR-1/telemetry/extra',
    'other/site-a/MR-1/telemetry',
    'guardian/site-a/MR-1/metrics',
    'guardian/site a/MR-1/telemetry',
    'guardian//MR-1/telemetry',
  ])('rejects %s', (topic) => {
    expect(parseTopic(topic)).toHaveProperty('error');
  });
});

describe('timestamps', () => {
  it('accepts epoch ms and ISO-8601 with a zone', () => {
    expect(parseTimestamp(NOW)).toEqual({ ok: true, ts: NOW });
    expect(parseTimestamp('2026-11-25T08:00:00Z')).toEqual({ ok: true, ts: NOW });
    expect(parseTimestamp('2026-11-25T16:00:00.000+08:00')).toEqual({ ok: true, ts: NOW });
  });
  it('names what is wrong', () => {
    expect(parseTimestamp(undefined)).toMatchObject({ ok: false, reason: 'missing_ts' });
    expect(parseTimestamp(1764057600)).toMatchObject({ ok: false, reason: 'invalid_ts', detail: expect.stringContaining('epoch seconds') });
    expect(parseTimestamp('2026-11-25 08:00')).toMatchObject({ ok: false, reason: 'invalid_ts' });
    expect(parseTimestamp('2026-11-25T08:00:00')).toMatchObject({ ok: false, reason: 'invalid_ts' });
    expect(parseTimestamp('2026-02-31T08:00:00Z')).toMatchObject({ ok: false, reason: 'invalid_ts' });
    expect(parseTimestamp('2028-02-29T08:00:00Z')).toMatchObject({ ok: true });
    expect(parseTimestamp(1e17)).toMatchObject({ ok: false, reason: 'invalid_ts' });
    expect(parseTimestamp(true)).toMatchObject({ ok: false, reason: 'invalid_ts' });
  });
  it('reads ISO text as the API and silences do: lower-case t and z accepted, 24:00 refused', () => {
    expect(parseTimestamp('2026-11-25t08:00:00z')).toEqual({ ok: true, ts: NOW });
    expect(parseTimestamp('2026-11-25T16:00:00+0800')).toEqual({ ok: true, ts: NOW });
    expect(parseTimestamp('2026-11-24T24:00:00Z')).toMatchObject({ ok: false, reason: 'invalid_ts', detail: expect.stringContaining('not a real time') });
    expect(parseTimestamp('2026-02-31T08:00:00Z')).toEqual({ ok: false, reason: 'invalid_ts', detail: 'ts "2026-02-31T08:00:00Z" is not a real date' });
  });
});

describe('payload reading', () => {
  it('rejects oversize, non-JSON, invalid UTF-8 and non-objects', () => {
    expect(readJsonObject(bytes('x'.repeat(2000)), 1024)).toMatchObject({ ok: false, rejection: { reason: 'payload_too_large' } });
    expect(readJsonObject(bytes('{"ts":'), 1024)).toMatchObject({ ok: false, rejection: { reason: 'invalid_json' } });
    expect(readJsonObject(new Uint8Array([0x7b, 0xff, 0x7d]), 1024)).toMatchObject({ ok: false, rejection: { reason: 'invalid_json' } });
    for (const text of ['[1,2]', '42', '"text"', 'null']) {
      expect(readJsonObject(bytes(text), 1024)).toMatchObject({ ok: false, rejection: { reason: 'not_an_object' } });
    }
    expect(readJsonObject(bytes('{"a":1}'), 1024)).toEqual({ ok: true, body: { a: 1 } });
    expect(readJsonObject(new Uint8Array(), 1024)).toMatchObject({ ok: false, rejection: { reason: 'invalid_json', detail: 'payload is empty' } });
  });
});

describe('telemetry decoding', () => {
  it('turns a single sample into one value per metric', () => {
    const out = mr({ ts: NOW, seq: 7, metrics: { helium_level_pct: 71.2, shield_temp_k: 41, compressor_running: true } });
    expect(out.rejections).toEqual([]);
    expect(out.samples).toEqual([
      { deviceId: 'MR-1', metric: 'helium_level_pct', ts: NOW, value: 71.2 },
      { deviceId: 'MR-1', metric: 'shield_temp_k', ts: NOW, value: 41 },
      { deviceId: 'MR-1', metric: 'compressor_running', ts: NOW, value: 1 },
    ]);
  });

  it('accepts a samples backlog with past timestamps', () => {
    const out = mr({ samples: [0, 1, 2].map((i) => ({ ts: NOW - (3 - i) * 60_000, metrics: { helium_level_pct: 80 + i } })) });
    expect(out.rejections).toEqual([]);
    expect(out.samples.map((s) => s.value)).toEqual([80, 81, 82]);
    expect(out.sampleCount).toBe(3);
  });

  it.each([
    ['missing ts', { metrics: { helium_level_pct: 70 } }, 'missing_ts'],
    ['unparsable ts', { ts: 'yesterday', metrics: { helium_level_pct: 70 } }, 'invalid_ts'],
    ['future ts', { ts: NOW + 6 * 60_000, metrics: { helium_level_pct: 70 } }, 'ts_in_future'],
    ['ts past retention', { ts: NOW - 31 * 86_400_000, metrics: { helium_level_pct: 70 } }, 'ts_too_old'],
    ['metrics not an object', { ts: NOW, metrics: [1, 2] }, 'invalid_schema'],
    ['no metrics key', { ts: NOW, values: { helium_level_pct: 1 } }, 'invalid_schema'],
    ['empty metrics', { ts: NOW, metrics: {} }, 'empty_sample'],
    ['string value', { ts: NOW, metrics: { helium_level_pct: '70' } }, 'non_finite_value'],
    ['null value', { ts: NOW, metrics: { helium_level_pct: null } }, 'non_finite_value'],
    ['unknown metric', { ts: NOW, metrics: { flux_capacitor_pct: 1 } }, 'unknown_metric'],
    ['CT metric on an MR', { ts: NOW, metrics: { tube_heat_pct: 50 } }, 'unknown_metric'],
    ['bad metric name', { ts: NOW, metrics: { 'Helium Level': 70 } }, 'invalid_metric_name'],
    ['impossible value', { ts: NOW, metrics: { helium_level_pct: 250 } }, 'value_out_of_range'],
    ['too many metrics', { ts: NOW, metrics: Object.fromEntries(['a_pct', 'b_pct', 'c_pct', 'd_pct', 'e_pct', 'f_pct'].map((m) => [m, 1])) }, 'too_many_metrics'],
    ['deviceId mismatch', { ts: NOW, deviceId: 'MR-9', metrics: { helium_level_pct: 70 } }, 'device_mismatch'],
    ['samples not an array', { samples: { ts: NOW } }, 'invalid_schema'],
    ['empty samples', { samples: [] }, 'invalid_schema'],
    ['both metrics and samples', { samples: [{ ts: NOW, metrics: { helium_level_pct: 70 } }], metrics: { helium_level_pct: 71 } }, 'invalid_schema'],
    ['a ts beyond any date', { ts: 1e17, metrics: { helium_level_pct: 70 } }, 'invalid_ts'],
    ['a __proto__ metric', JSON.parse(`{"ts": ${NOW}, "metrics": {"__proto__": 5}}`), 'invalid_metric_name'],
    ['too many samples', { samples: Array.from({ length: 11 }, () => ({ ts: NOW, metrics: { helium_level_pct: 70 } })) }, 'too_many_samples'],
  ])('rejects %s', (_name, body, reason) => {
    const out = mr(body as Record<string, unknown>);
    expect(out.samples).toEqual([]);
    expect(out.rejections.map((r) => r.reason)).toEqual([reason]);
    expect(out.rejections[0]!.detail.length).toBeGreaterThan(0);
  });

  it('keeps the good metrics and samples beside bad ones', () => {
    const out = mr({
      samples: [
        { ts: NOW - 120_000, metrics: { helium_level_pct: 80, shield_temp_k: 'warm', bogus_metric_k: 3 } },
        { ts: 'not a time', metrics: { helium_level_pct: 79 } },
        { ts: NOW - 60_000, metrics: { helium_level_pct: 78 } },
      ],
    });
    expect(out.samples.map((s) => [s.metric, s.value])).toEqual([
      ['helium_level_pct', 80],
      ['helium_level_pct', 78],
    ]);
    expect(out.rejections.map((r) => r.reason).sort()).toEqual(['invalid_ts', 'non_finite_value', 'unknown_metric']);
  });

  it('stores unknown metrics flagged when configured to', () => {
    const out = mr({ ts: NOW, metrics: { helium_level_pct: 80, bore_light_pct: 30 } }, { ...limits, unknownMetrics: 'store' });
    expect(out.rejections).toEqual([]);
    expect(out.samples).toHaveLength(2);
    expect(out.flaggedMetrics).toEqual(['bore_light_pct']);
  });

  it('groups many rejections of one reason into one entry with a count', () => {
    const out = mr({ samples: Array.from({ length: 8 }, () => ({ metrics: { helium_level_pct: 1 } })) });
    expect(out.rejections).toHaveLength(1);
    expect(out.rejections[0]).toMatchObject({ reason: 'missing_ts', count: 8 });
  });

  it('never throws and yields only finite values, whatever the body', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const body = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { ts: NOW, metrics: value };
        const out = mr(body);
        for (const s of out.samples) expect(Number.isFinite(s.value)).toBe(true);
        return true;
      }),
      { numRuns: 300 },
    );
  });
});

describe('status and event decoding', () => {
  it('reads a status report', () => {
    expect(decodeStatus({ ts: NOW, state: 'scanning' }, NOW, limits)).toEqual({ ok: true, state: 'scanning', ts: NOW });
    expect(decodeStatus({ ts: NOW, state: 'asleep' }, NOW, limits)).toMatchObject({ ok: false, rejection: { reason: 'invalid_schema' } });
  });
  it('reads an event', () => {
    expect(decodeEvent({ ts: NOW, code: 'TUBE_ARC', data: { count: 2 } }, 'CT-1', NOW, limits)).toEqual({
      ok: true,
      event: { deviceId: 'CT-1', ts: NOW, code: 'TUBE_ARC', data: { count: 2 } },
    });
    expect(decodeEvent({ ts: NOW, code: 'tube arc' }, 'CT-1', NOW, limits)).toMatchObject({ ok: false, rejection: { reason: 'invalid_schema' } });
    expect(decodeEvent({ code: 'TUBE_ARC' }, 'CT-1', NOW, limits)).toMatchObject({ ok: false, rejection: { reason: 'missing_ts' } });
  });
});
