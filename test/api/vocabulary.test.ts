import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberMonth } from '../../src/storage/sql/work-order-repository.js';
import { apiFixture, engineAlert, type ApiFixture } from './fixture.js';

/**
 * What a new user reads from the API: one vocabulary for list filters, errors that say what is
 * wrong (a missing field "is required", a body that is not JSON says to send JSON), an OpenAPI
 * description of the whole API, and documentation whose examples the engine could have produced.
 */
describe('API vocabulary: filters, error wording, description', () => {
  let api: ApiFixture;
  const report = (deviceId: string, title: string) => ({ deviceId, channel: 'hotline', grade: 'general', title, phenomenon: '扫描中断', reporter: { name: '王工' } });

  beforeAll(async () => {
    api = await apiFixture();
  });
  afterAll(async () => api?.close());

  describe('filters', () => {
    it('alerts take state=open (not normal and not resolved), comma-separated states, all, and status as a synonym', async () => {
      api.alerts = [
        engineAlert('MR-1', 'a-firing', 'firing', 'severe'),
        engineAlert('MR-1', 'a-pending', 'pending', 'minor'),
        engineAlert('MR-1', 'a-nodata', 'nodata'),
        engineAlert('CT-1', 'a-resolved', 'resolved', 'general'),
        engineAlert('CT-1', 'a-normal', 'normal'),
      ];
      const rules = async (query: string) => {
        const answer = await api.call(api.tokens.engineer, 'GET', `/api/alerts${query}`);
        expect(answer.status, query).toBe(200);
        return answer.body.items!.map((a) => a.ruleId).sort();
      };
      expect(await rules('?state=open')).toEqual(['a-firing', 'a-nodata', 'a-pending']);
      expect(await rules('?status=open')).toEqual(['a-firing', 'a-nodata', 'a-pending']);
      expect(await rules('?state=firing,resolved')).toEqual(['a-firing', 'a-resolved']);
      expect(await rules('?state=all')).toEqual(['a-firing', 'a-nodata', 'a-normal', 'a-pending', 'a-resolved']);
      expect(await rules('')).toEqual(['a-firing', 'a-nodata', 'a-pending', 'a-resolved']);
      expect(await rules('?state=firing')).toEqual(['a-firing']);
      const unknown = await api.call(api.tokens.engineer, 'GET', '/api/alerts?state=opne');
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toContain('unknown alert state opne; one of normal, pending, firing, recovering, resolved, nodata, error, open, all');
      const both = await api.call(api.tokens.engineer, 'GET', '/api/alerts?state=open&status=firing');
      expect(both).toMatchObject({ status: 400, body: { message: 'querystring.status: state and status are the same filter; give one' } });
    });

    it('work orders take status=open and state=open alike, and all', async () => {
      const first = await api.call(api.tokens.supervisor, 'POST', '/api/work-orders', report('MR-1', '伪影'));
      const second = await api.call(api.tokens.supervisor, 'POST', '/api/work-orders', report('CT-1', '噪声'));
      expect([first.status, second.status]).toEqual([201, 201]);
      expect((await api.call(api.tokens.supervisor, 'POST', `/api/work-orders/${String(second.body.id)}/transitions`, { action: 'cancel', note: '重复' })).status).toBe(200);
      const ids = async (query: string) => {
        const answer = await api.call(api.tokens.engineer, 'GET', `/api/work-orders${query}`);
        expect(answer.status, query).toBe(200);
        return answer.body.items!.map((w) => w.id);
      };
      expect(await ids('?status=open')).toEqual([first.body.id]);
      expect(await ids('?state=open')).toEqual([first.body.id]);
      expect(await ids('?status=all')).toEqual([second.body.id, first.body.id]);
      expect(await ids('?state=cancelled')).toEqual([second.body.id]);
      expect((await api.call(api.tokens.engineer, 'GET', '/api/work-orders?status=opne')).body.message).toContain('unknown work-order status opne');
    });

    it('silences take status as well as state, and open for those in force or to come', async () => {
      const start = Date.now() + 3_600_000;
      const created = await api.call(api.tokens.supervisor, 'POST', '/api/silences', {
        scope: { deviceId: 'MR-1' },
        author: '陈主管',
        reason: '保养',
        window: { startsAt: new Date(start).toISOString(), endsAt: new Date(start + 3_600_000).toISOString() },
      });
      expect(created.status).toBe(201);
      for (const query of ['?status=open', '?state=open', '?status=pending', '?state=all']) {
        const answer = await api.call(api.tokens.engineer, 'GET', `/api/silences${query}`);
        expect(answer.status, query).toBe(200);
        expect(answer.body.items!.map((s) => s.id), query).toEqual([created.body.id]);
      }
      expect((await api.call(api.tokens.engineer, 'GET', '/api/silences?status=expired')).body.items).toEqual([]);
    });

    it('escalations take the same time words as the other lists (relative times)', async () => {
      const answer = await api.call(api.tokens.engineer, 'GET', '/api/escalations?from=-7d&to=now');
      expect(answer).toMatchObject({ status: 200, body: { items: [], total: 0 } });
    });

    it('every list filter is described in the OpenAPI document', async () => {
      const doc = (await api.call(null, 'GET', '/docs/json')).body as { paths: Record<string, { get?: { parameters?: Array<{ name: string; in: string; description?: string }>; description?: string } }> };
      for (const [path, filters] of [
        ['/api/alerts', ['state', 'status']],
        ['/api/work-orders', ['status', 'state']],
        ['/api/silences', ['state', 'status']],
      ] as const) {
        const parameters = doc.paths[path]!.get!.parameters!.filter((p) => p.in === 'query');
        for (const name of filters) expect(parameters.find((p) => p.name === name)?.description, `${path} ${name}`).toMatch(/open/);
      }
      expect(doc.paths['/api/alerts']!.get!.description).toContain('`open` (not back to normal and not resolved');
    });
  });

  describe('errors', () => {
    it('a missing required field answers "is required", on every route’s body, query and params', async () => {
      const noAction = await api.call(api.tokens.admin, 'POST', '/api/work-orders/1/transitions', {});
      expect(noAction.status).toBe(400);
      expect(noAction.body.issues).toEqual([{ path: 'body.action', message: 'is required; one of notify, acknowledge, respond, start, hold, resume, resolve, reopen, close, cancel' }]);
      expect(noAction.body.message).not.toMatch(/Invalid option|Invalid input/);

      const noTitle = await api.call(api.tokens.admin, 'POST', '/api/work-orders', { ...report('MR-1', 'x'), title: undefined, reporter: {} });
      expect(noTitle.status).toBe(400);
      expect(noTitle.body.issues).toEqual(expect.arrayContaining([{ path: 'body.title', message: 'is required' }, { path: 'body.reporter.name', message: 'is required' }]));

      const site = await api.call(api.tokens.admin, 'POST', '/api/sites', { name: '第三医院' });
      expect(site.body).toMatchObject({ error: 'bad_request', message: 'body.id: is required' });
      const token = await api.call(api.tokens.admin, 'POST', '/api/tokens', { name: 'x' });
      expect(token.body.message).toBe('body.role: is required; one of admin, supervisor, engineer, hospital');

      const noBody = await api.call(api.tokens.admin, 'POST', '/api/sites');
      expect(noBody.body).toMatchObject({ error: 'bad_request', message: 'body: is required: send a JSON object with Content-Type: application/json' });

      // A wrong value keeps its own wording.
      const wrong = await api.call(api.tokens.admin, 'POST', '/api/work-orders/1/transitions', { action: 'fly' });
      expect(wrong.body.message).toMatch(/^body\.action: Invalid option/);
      const wrongType = await api.call(api.tokens.admin, 'POST', '/api/sites', { id: 5, name: 'x' });
      expect(wrongType.body.message).not.toContain('required');
    });

    it('415 says to send the body as JSON with Content-Type: application/json', async () => {
      const answer = await api.call(api.tokens.admin, 'POST', '/api/sites', 'id=h3&name=x', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(answer.status).toBe(415);
      expect(answer.body).toEqual({ error: 'unsupported_media_type', message: 'send the body as JSON with Content-Type: application/json (got application/x-www-form-urlencoded)' });
      // Plain text is read (Fastify parses it), and refused as not being a JSON object, with the same advice.
      const text = await api.call(api.tokens.admin, 'POST', '/api/sites', '{"id": "h3"}', { 'content-type': 'text/plain' });
      expect(text.body).toMatchObject({ error: 'bad_request', message: 'body: must be a JSON object: send it with Content-Type: application/json' });
    });
  });

  it('the OpenAPI description speaks of the whole API', async () => {
    const doc = (await api.call(null, 'GET', '/docs/json')).body as { info: { title: string; description: string } };
    expect(doc.info.description).not.toContain('Telemetry, devices and ingest');
    for (const word of ['scanners', 'alerts', 'work orders', 'silences', 'rule packs', 'tokens', 'Authorization: Bearer', 'Content-Type: application/json', 'docs/permissions.md', '429']) {
      expect(doc.info.description, word).toContain(word);
    }
  });

  it('docs/work-orders.md: every example number has the engine’s form and a real month; the curl example uses the number the engine answered', async () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/work-orders.md'), 'utf8');
    const created = await api.call(api.tokens.supervisor, 'POST', '/api/work-orders', report('MR-1', '编号'));
    const made = created.body.number as string;
    const shape = /^WO-(\d{6})-(\d{4})$/;
    expect(made).toMatch(shape);
    expect(shape.exec(made)![1]).toBe(numberMonth(Date.now(), 'Asia/Shanghai'));
    const examples = [...doc.matchAll(/WO-\d+-\d+/g)].map((m) => m[0]);
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const [, month, sequence] = shape.exec(example) ?? [];
      expect(month, example).toBeDefined();
      expect(Number(month!.slice(4)), example).toBeGreaterThanOrEqual(1);
      expect(Number(month!.slice(4)), example).toBeLessThanOrEqual(12);
      expect(Number(sequence), example).toBeGreaterThanOrEqual(1);
    }
    // The walk-through must not act on a number that need not exist: it takes the one POST answered.
    const curls = doc.split('\n').filter((line) => line.includes('curl') && line.includes('/api/work-orders/'));
    expect(curls.length).toBeGreaterThan(0);
    for (const line of curls) expect(line).not.toMatch(/\/api\/work-orders\/WO-\d/);
  });
});
