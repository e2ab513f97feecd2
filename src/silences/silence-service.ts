import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { SilenceLookup } from '../kernel/ports/silence-lookup.js';
import { finishedAt, SilenceSet, toSilence, type Silence, type SilenceSpec, type SilenceTarget } from './schedule.js';
import type { SilenceStore } from './store.js';
import { DEFAULT_SILENCE_MAX_DURATION_MS } from './limits.js';

export class SilenceConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SilenceConflictError';
  }
}

export interface SilenceServiceOptions {
  readonly logger?: Logger;
  readonly now?: () => number;
  /**
   * Silences over for longer than this are left out of the index the rule engine asks (they stay
   * listed): samples that old are past raw retention and are not evaluated. Default 35 days.
   */
  readonly indexHistoryMs?: number;
  /** Longest a silence may hold notifications (`silences.maxDuration`; see `silenceLengthIssue`). Default 30 days. */
  readonly maxDurationMs?: number;
}

/**
 * Silences (maintenance windows) in memory, kept in step with the SQL database: loaded at
 * start, changed through create / update / expire. The rule engine asks `activeFor` on every
 * notifying transition, synchronously; it looks only at the silences of the device and its site.
 */
export class SilenceService implements SilenceLookup {
  private readonly all = new Map<string, Silence>();
  private readonly index = new SilenceSet();
  private readonly now: () => number;
  private readonly indexHistoryMs: number;
  /** The longest silence people may set (`silences.maxDuration`); the API refuses longer ones. */
  readonly maxDurationMs: number;

  private constructor(
    private readonly repository: SilenceStore,
    private readonly options: SilenceServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.indexHistoryMs = options.indexHistoryMs ?? 35 * 86_400_000;
    this.maxDurationMs = options.maxDurationMs ?? DEFAULT_SILENCE_MAX_DURATION_MS;
  }

  static async open(repository: SilenceStore, options: SilenceServiceOptions = {}): Promise<SilenceService> {
    const service = new SilenceService(repository, options);
    await service.reload();
    return service;
  }

  /** Reads every silence from the database again (another instance may have changed them). */
  async reload(): Promise<void> {
    const silences = await this.repository.list();
    this.all.clear();
    for (const s of this.index.values()) this.index.remove(s.id);
    for (const s of silences) this.keep(s);
    this.options.logger?.debug({ silences: silences.length, indexed: this.index.size }, 'silences loaded');
  }

  /** The silence holding notifications for this rule on this device at `ts` (event time), if any. */
  activeFor(target: SilenceTarget, ts: number): Silence | undefined {
    return this.index.activeFor(target, ts);
  }

  /** Every silence holding notifications for the target at `ts`. */
  allActiveFor(target: SilenceTarget, ts: number): Silence[] {
    return this.index.allActiveFor(target, ts);
  }

  get(id: string): Silence | undefined {
    return this.all.get(id);
  }

  /** Every silence, expired ones included, oldest first. */
  list(): Silence[] {
    return [...this.all.values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** Stores a new silence (the spec validated by the caller); the id is generated unless given. */
  async create(spec: SilenceSpec, options: { id?: string } = {}): Promise<Silence> {
    const id = options.id ?? randomUUID();
    if (this.all.has(id)) throw new SilenceConflictError(`silence ${id} exists; change it with PATCH /api/silences/${id}`);
    const now = this.now();
    const silence = toSilence(spec, { id, createdAt: now, updatedAt: now });
    await this.repository.create(silence);
    this.keep(silence);
    this.options.logger?.info({ silence: id, scope: silence.scope, author: silence.author }, 'silence created');
    return silence;
  }

  /** Replaces a silence's spec; undefined if there is none. An expired silence is history and cannot change. */
  async update(id: string, spec: SilenceSpec): Promise<Silence | undefined> {
    const old = this.all.get(id);
    if (!old) return undefined;
    if (old.expiredAt !== undefined) throw new SilenceConflictError(`silence ${id} was expired and is kept as history; create a new one`);
    const silence = toSilence(spec, { id, createdAt: old.createdAt, updatedAt: this.now() });
    if (!(await this.repository.update(silence))) return undefined;
    this.keep(silence);
    this.options.logger?.info({ silence: id, scope: silence.scope, author: silence.author }, 'silence updated');
    return silence;
  }

  /**
   * Ends a silence now and keeps it as history; a silence already expired by hand keeps its
   * expiry. Undefined if there is none.
   */
  async expire(id: string): Promise<Silence | undefined> {
    const old = this.all.get(id);
    if (!old) return undefined;
    if (old.expiredAt !== undefined) return old;
    const now = this.now();
    if (!(await this.repository.expire(id, now))) {
      // Expired meanwhile by another instance: take the stored version.
      const stored = await this.repository.get(id);
      if (stored) this.keep(stored);
      return stored;
    }
    const silence: Silence = { ...old, expiredAt: now, updatedAt: now };
    this.keep(silence);
    this.options.logger?.info({ silence: id }, 'silence expired');
    return silence;
  }

  private keep(silence: Silence): void {
    this.all.set(silence.id, silence);
    if (finishedAt(silence) > this.now() - this.indexHistoryMs) this.index.put(silence);
    else this.index.remove(silence.id);
  }
}
