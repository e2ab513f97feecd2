/**
 * Saving the engine's alerts through the `AlertStore` port, in the background and one save at a
 * time. An alert with a transition or a new message is saved at once; one whose value or time
 * alone changed waits for the next save (at least once a `lazyMs`). The `AlertChange` of a
 * notifying transition goes with the save that writes its alert — the store writes both in one
 * transaction — and a save that fails keeps both for the next one, so a change is not lost. A
 * save that did commit but whose reply was lost is retried too: the change goes again with its
 * id (`AlertChange.id`, made once by the engine), and the store keeps one row per id, so it is
 * not written twice.
 */
import type { Logger } from 'pino';
import type { AlertChange } from '../src/kernel/alerts.js';
import type { AlertStore } from '../src/kernel/ports/alert-store.js';
import { toStoredAlert, type EngineAlert } from './alert.js';

export interface AlertSavesOptions {
  readonly store: AlertStore;
  readonly logger: Logger;
  /** Wall clock. */
  readonly now: () => number;
  /** The alert to save under a key, as it is when the save starts. */
  readonly alert: (key: string) => EngineAlert | undefined;
  /** Alerts changed without a transition are saved at least this often (wall time). */
  readonly lazyMs: number;
}

export class AlertSaves {
  private readonly dirty = new Set<string>();
  /** Alerts changed without a transition (value, time): saved with the next save, not on their own. */
  private readonly lazy = new Set<string>();
  /** Changes waiting for the save of their alerts, oldest first. */
  private changes: AlertChange[] = [];
  private saving: Promise<void> = Promise.resolve();
  /** Wall time of the last save. */
  private lastSaveAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: AlertSavesOptions) {}

  /** An alert to save at once, with the change its notifying transitions made, if any. */
  now(key: string, change?: AlertChange): void {
    this.dirty.add(key);
    if (change !== undefined) this.changes.push(change);
  }

  /** An alert to save with the next save. */
  later(key: string): void {
    this.lazy.add(key);
  }

  /** Whether alerts wait to be saved at once. */
  get urgent(): boolean {
    return this.dirty.size > 0;
  }

  /** Whether a save is due: alerts wait to be saved at once, or lazily ones since `lazyMs`. */
  get due(): boolean {
    return this.dirty.size > 0 || (this.lazy.size > 0 && this.options.now() - this.lastSaveAt >= this.options.lazyMs);
  }

  /** Queues a save of everything waiting (after the save in flight). */
  schedule(): void {
    this.saving = this.saving.then(() => this.save());
  }

  /** Waits for the saves scheduled so far. */
  settled(): Promise<void> {
    return this.saving;
  }

  private async save(): Promise<void> {
    if (this.dirty.size === 0 && this.lazy.size === 0 && this.changes.length === 0) return;
    const keys = [...new Set([...this.dirty, ...this.lazy])];
    this.dirty.clear();
    this.lazy.clear();
    const changes = this.changes;
    this.changes = [];
    this.lastSaveAt = this.options.now();
    try {
      const alerts: EngineAlert[] = [];
      for (const k of keys) {
        const alert = this.options.alert(k);
        if (alert !== undefined) alerts.push(alert);
      }
      await this.options.store.save(alerts.map(toStoredAlert), changes);
    } catch (error) {
      // Nothing of this save was written, or all of it was and the reply was lost: its alerts and
      // changes go again with the next one, the changes ahead of those made since (a change
      // written already is not written again: its id is unique in the outbox).
      for (const k of keys) this.dirty.add(k);
      if (changes.length > 0) this.changes = [...changes, ...this.changes];
      this.options.logger.error({ err: error, alerts: keys.length, changes: changes.length }, 'could not save alerts; will retry with the next save');
    }
  }
}
