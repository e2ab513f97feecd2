import type { Silence } from './schedule.js';

/**
 * Where silences (maintenance windows) are kept. Like Alertmanager's, a silence is never deleted:
 * expiring it records when, and the row stays as history. The SQL adapter is
 * `src/storage/sql/silence-repository.ts`.
 */
export interface SilenceStore {
  create(silence: Silence): Promise<void>;
  get(id: string): Promise<Silence | undefined>;
  list(options?: { includeExpired?: boolean }): Promise<Silence[]>;
  /** Replaces a silence's fields (not its id or creation time); false when there is none with its id. */
  update(silence: Silence): Promise<boolean>;
  /** Sets the expiry of a silence not already expired; false when there is none such. */
  expire(id: string, at: number): Promise<boolean>;
}
