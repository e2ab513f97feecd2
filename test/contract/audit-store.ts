/**
 * Behaviour every AuditStore adapter must show (`src/kernel/ports/audit-store.ts`). Only the port
 * is exercised, so the same suite runs against the SQL adapter on SQLite and on PostgreSQL.
 *
 * `open` must hand out a store on an empty audit table of its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry, AuditStore } from '../../src/kernel/ports/audit-store.js';
import { once, registeredAsSkipped, type ContractOptions } from './support.js';

/** Epoch milliseconds past 2^32 (2031), as every stored time may be. */
const T0 = Date.UTC(2031, 5, 1, 8, 30, 15, 123);
const MINUTE = 60_000;

const entry = (at: number, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  at,
  actor: 'supervisor-chen',
  role: 'supervisor',
  address: '10.1.2.3',
  method: 'POST',
  route: '/api/silences',
  url: '/api/silences',
  status: 201,
  requestId: `req-${at}`,
  ...extra,
});

export function describeAuditStoreContract(name: string, open: () => Promise<{ store: AuditStore; close(): Promise<void> }>, options: ContractOptions = {}): void {
  if (registeredAsSkipped(name, options)) return;
  describe(name, () => {
    let close: (() => Promise<void>) | undefined;
    const fresh = async () => {
      const opened = await open();
      close = once(opened.close);
      return opened.store;
    };
    afterEach(async () => {
      await close?.();
      close = undefined;
    });

    it('keeps every field as given, optional ones absent when not given', async () => {
      const store = await fresh();
      const full = entry(T0, { targetId: 'sil-7', url: '/api/silences?x=1', route: '/api/silences' });
      const anonymous: AuditEntry = { at: T0 + 1, actor: 'anonymous', address: '::ffff:192.0.2.7', method: 'GET', url: '/api/nowhere', status: 401, requestId: '6f1c2a7e-9d7b-4c65-8a53-8c1f0f0d2e11' };
      await store.insert([full, anonymous]);
      const { items, total } = await store.list();
      expect(total).toBe(2);
      expect(items.map(({ id: _id, ...rest }) => rest)).toEqual([anonymous, full]);
      expect(items.every((i) => Number.isInteger(i.id))).toBe(true);
    });

    it('lists newest first, and by id within one instant; total counts every match', async () => {
      const store = await fresh();
      await store.insert([entry(T0), entry(T0 + MINUTE, { requestId: 'a' }), entry(T0 + MINUTE, { requestId: 'b' }), entry(T0 - MINUTE)]);
      const { items, total } = await store.list({ limit: 3 });
      expect(total).toBe(4);
      expect(items.map((i) => i.requestId)).toEqual(['b', 'a', `req-${T0}`]);
      const next = await store.list({ limit: 3, offset: 3 });
      expect(next.items.map((i) => i.at)).toEqual([T0 - MINUTE]);
      // After a listed entry: the rest, whatever was written since.
      await store.insert([entry(T0 + 2 * MINUTE)]);
      const after = await store.list({ after: { at: items[1]!.at, id: items[1]!.id } });
      expect(after.items.map((i) => i.requestId)).toEqual([`req-${T0}`, `req-${T0 - MINUTE}`]);
    });

    it('filters by time, actor, method, status range and URL prefix, together', async () => {
      const store = await fresh();
      await store.insert([
        entry(T0, { actor: 'admin', role: 'admin', method: 'DELETE', url: '/api/tokens/wang', route: '/api/tokens/:name', targetId: 'wang', status: 204 }),
        entry(T0 + MINUTE, { actor: 'anonymous', role: undefined, method: 'GET', url: '/api/devices', status: 401 }),
        entry(T0 + 2 * MINUTE, { actor: 'wang', role: 'engineer', method: 'POST', url: '/api/sites', status: 403 }),
        entry(T0 + 3 * MINUTE, { method: 'PATCH', url: '/api/silences/s1', status: 200 }),
        entry(T0 + 4 * MINUTE, { method: 'POST', url: '/API/silences', status: 404 }),
        entry(T0 + 5 * MINUTE, { method: 'POST', url: '/api/silences_x%', status: 400 }),
      ]);
      const ids = async (filter: Parameters<AuditStore['list']>[0]) => {
        const { items, total } = await store.list(filter);
        expect(total).toBe(items.length);
        return items.map((i) => i.at - T0);
      };
      expect(await ids({ from: T0 + MINUTE, to: T0 + 3 * MINUTE })).toEqual([2 * MINUTE, MINUTE]);
      expect(await ids({ actor: 'admin' })).toEqual([0]);
      expect(await ids({ method: 'POST' })).toEqual([5 * MINUTE, 4 * MINUTE, 2 * MINUTE]);
      expect(await ids({ statusMin: 400, statusMax: 499 })).toEqual([5 * MINUTE, 4 * MINUTE, 2 * MINUTE, MINUTE]);
      expect(await ids({ statusMin: 403, statusMax: 403 })).toEqual([2 * MINUTE]);
      // A prefix is compared exactly: case counts, and % or _ are plain characters.
      expect(await ids({ pathPrefix: '/api/silences' })).toEqual([5 * MINUTE, 3 * MINUTE]);
      expect(await ids({ pathPrefix: '/api/silences_x%' })).toEqual([5 * MINUTE]);
      expect(await ids({ pathPrefix: '/api/s' })).toEqual([5 * MINUTE, 3 * MINUTE, 2 * MINUTE]);
      expect(await ids({ pathPrefix: '/api/', method: 'POST', statusMin: 400, statusMax: 599 })).toEqual([5 * MINUTE, 2 * MINUTE]);
    });

    it('keeps text as sent (other scripts, long URLs cut to the column) and writes a batch whole', async () => {
      const store = await fresh();
      const long = `/api/devices?note=${'x'.repeat(5_000)}`;
      await store.insert([entry(T0, { actor: '王工', url: long, targetId: 'CT-东院-01' })]);
      const [kept] = (await store.list()).items;
      expect(kept).toMatchObject({ actor: '王工', targetId: 'CT-东院-01' });
      expect(kept!.url.length).toBe(2_000);
      expect(long.startsWith(kept!.url)).toBe(true);
      const many = Array.from({ length: 1_200 }, (_, i) => entry(T0 + i + 1));
      await store.insert(many);
      expect((await store.list({ limit: 1 })).total).toBe(1_201);
    });

    it('prunes entries older than the boundary only', async () => {
      const store = await fresh();
      await store.insert([entry(T0 - 2 * MINUTE), entry(T0 - 1), entry(T0), entry(T0 + MINUTE)]);
      expect(await store.prune(T0)).toBe(2);
      expect((await store.list()).items.map((i) => i.at)).toEqual([T0 + MINUTE, T0]);
      expect(await store.prune(T0)).toBe(0);
    });
  });
}
