/**
 * The audit trail's queue: recording never waits or throws, entries are written in batches, a
 * failed write is retried, and an entry that cannot be kept is logged and counted, not silently
 * gone.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerAuditMetrics } from '../../src/audit/metrics.js';
import { AuditTrail } from '../../src/audit/trail.js';
import type { AuditEntry, AuditFilter, AuditStore, StoredAuditEntry } from '../../src/kernel/ports/audit-store.js';
import { capturedLogger, waitFor } from '../helpers.js';

class MemoryAuditStore implements AuditStore {
  readonly rows: StoredAuditEntry[] = [];
  inserts: number[] = [];
  failing = false;
  /** Resolves the next insert only when released. */
  hold: Promise<void> | undefined;
  pruned: number[] = [];

  async insert(entries: readonly AuditEntry[]): Promise<void> {
    if (this.hold) await this.hold;
    if (this.failing) throw new Error('database unreachable');
    this.inserts.push(entries.length);
    for (const e of entries) this.rows.push({ ...e, id: this.rows.length + 1 });
  }

  async list(filter: AuditFilter = {}): Promise<{ items: StoredAuditEntry[]; total: number }> {
    const items = [...this.rows].reverse().filter((r) => filter.actor === undefined || r.actor === filter.actor);
    return { items: items.slice(0, filter.limit ?? 100), total: items.length };
  }

  async prune(before: number): Promise<number> {
    this.pruned.push(before);
    return 0;
  }
}

const entry = (n: number): AuditEntry => ({ at: 1_000 + n, actor: `user-${n}`, role: 'engineer', address: '127.0.0.1', method: 'POST', url: '/api/work-orders', status: 201, requestId: `r${n}` });

describe('AuditTrail', () => {
  it('queues without waiting and writes in batches, a full batch at once and the rest within the flush interval', async () => {
    const store = new MemoryAuditStore();
    const { logger } = capturedLogger('info');
    const trail = new AuditTrail(store, { logger, batchSize: 3, flushEveryMs: 50 });
    let release!: () => void;
    store.hold = new Promise((r) => (release = r));
    for (let i = 0; i < 4; i++) expect(trail.record(entry(i))).toBeUndefined();
    // The full batch went to the store at once; the fourth waits.
    expect(trail.counters()).toMatchObject({ recorded: 4, pending: 1, written: 0 });
    release();
    store.hold = undefined;
    await waitFor(() => store.rows.length === 4, { timeoutMs: 2_000 });
    expect(store.inserts).toEqual([3, 1]);
    expect(trail.counters()).toMatchObject({ recorded: 4, written: 4, pending: 0, lost: 0 });
    await trail.stop();
  });

  it('lists what this engine has queued, newest first', async () => {
    const store = new MemoryAuditStore();
    const trail = new AuditTrail(store, { logger: capturedLogger('info').logger, flushEveryMs: 60_000 });
    trail.record(entry(1));
    trail.record(entry(2));
    expect(store.rows).toEqual([]);
    const { items, total } = await trail.list({});
    expect(total).toBe(2);
    expect(items.map((i) => i.actor)).toEqual(['user-2', 'user-1']);
    await trail.stop();
  });

  it('keeps a failed batch for the next attempt, and writes it once the store is back', async () => {
    const store = new MemoryAuditStore();
    const { logger, lines } = capturedLogger('info');
    const trail = new AuditTrail(store, { logger, flushEveryMs: 20 });
    store.failing = true;
    trail.record(entry(1));
    await waitFor(() => trail.counters().writeErrors >= 2, { timeoutMs: 2_000 });
    expect(trail.counters()).toMatchObject({ pending: 1, lost: 0, written: 0 });
    expect(lines.some((l) => l.msg === 'writing the audit trail failed; retrying')).toBe(true);
    store.failing = false;
    await waitFor(() => trail.counters().written === 1, { timeoutMs: 2_000 });
    expect(store.rows.map((r) => r.actor)).toEqual(['user-1']);
    await trail.stop();
  });

  it('drops the oldest entries beyond its bound while the store fails: each is logged and counted in /metrics', async () => {
    const store = new MemoryAuditStore();
    const { logger, lines } = capturedLogger('info');
    const trail = new AuditTrail(store, { logger, flushEveryMs: 10_000, batchSize: 100, maxPending: 3 });
    const registry = new Registry();
    registerAuditMetrics(registry, trail);
    store.failing = true;
    for (let i = 1; i <= 5; i++) trail.record(entry(i));
    expect(trail.counters()).toMatchObject({ recorded: 5, pending: 3, lost: 2 });
    const lost = lines.filter((l) => l.msg === 'audit entry lost');
    expect(lost.map((l) => (l.audit as AuditEntry).actor)).toEqual(['user-1', 'user-2']);
    const text = await registry.metrics();
    expect(text).toMatch(/^guardian_audit_lost_total 2$/m);
    expect(text).toMatch(/^guardian_audit_recorded_total 5$/m);
    expect(text).toMatch(/^guardian_audit_pending 3$/m);
    // Stopping tries once more; what still cannot be written is lost, logged and counted.
    await trail.stop();
    expect(trail.counters()).toMatchObject({ lost: 5, pending: 0 });
    expect(await registry.metrics()).toMatch(/^guardian_audit_lost_total 5$/m);
    expect(lines.filter((l) => l.msg === 'audit entry lost')).toHaveLength(5);
  });

  it('logs lost entries one by one up to a hundred a minute, then counts the rest in one line', async () => {
    const store = new MemoryAuditStore();
    const { logger, lines } = capturedLogger('info');
    let clock = 0;
    const trail = new AuditTrail(store, { logger, now: () => clock, flushEveryMs: 60_000, batchSize: 10_000, maxPending: 10 });
    store.failing = true;
    for (let i = 0; i < 260; i++) trail.record(entry(i));
    expect(trail.counters().lost).toBe(250);
    expect(lines.filter((l) => l.msg === 'audit entry lost')).toHaveLength(100);
    clock += 60_000;
    trail.record(entry(999));
    expect(lines.find((l) => l.msg === 'audit entries lost without a log line each (too many in a minute)')).toMatchObject({ lost: 150 });
    expect(lines.filter((l) => l.msg === 'audit entry lost')).toHaveLength(101);
    await trail.stop();
    expect(trail.counters().lost).toBe(261);
  });

  it('writes what is queued when stopped, and counts what comes after as lost', async () => {
    const store = new MemoryAuditStore();
    const { logger } = capturedLogger('info');
    const trail = new AuditTrail(store, { logger, flushEveryMs: 60_000, batchSize: 2 });
    for (let i = 0; i < 5; i++) trail.record(entry(i));
    await trail.stop();
    expect(store.rows).toHaveLength(5);
    trail.record(entry(9));
    expect(trail.counters()).toMatchObject({ written: 5, lost: 1 });
  });

  it('prunes by age at start and periodically', async () => {
    const store = new MemoryAuditStore();
    const trail = new AuditTrail(store, { logger: capturedLogger('info').logger, now: () => 1_000_000_000_000, retentionMs: 400 * 86_400_000, pruneEveryMs: 20 });
    trail.start();
    await waitFor(() => store.pruned.length >= 2, { timeoutMs: 2_000 });
    expect(store.pruned[0]).toBe(1_000_000_000_000 - 400 * 86_400_000);
    await trail.stop();
  });
});
