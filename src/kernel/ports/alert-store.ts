import type { AlertChange } from '../alerts.js';

/** One alert (a rule on a device) as stored. */
export interface StoredAlert {
  readonly deviceId: string;
  readonly ruleId: string;
  readonly pack: string;
  readonly state: string;
  readonly grade?: string;
  readonly lastValue?: number;
  readonly record: string;
  readonly condition: string;
  readonly messageZh: string;
  readonly messageEn: string;
  readonly updatedAt: number;
}

/**
 * Where the rule engine keeps its alerts, so a restart resumes them, and the outbox of their
 * changes. `save` writes the alerts and the changes in one transaction: a change that others act
 * on (a work order to open, a push) is never lost between the two.
 */
export interface AlertStore {
  save(alerts: readonly StoredAlert[], changes?: readonly AlertChange[]): Promise<void>;
  all(): Promise<StoredAlert[]>;
}
