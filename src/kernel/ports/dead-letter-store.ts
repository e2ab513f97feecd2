/** A message, or part of one, that ingest refused — kept so someone can see what to fix. */
export interface DeadLetter {
  readonly receivedAt: number;
  readonly reason: string;
  readonly detail: string;
  readonly topic: string;
  readonly site?: string;
  readonly deviceId?: string;
  /** The payload as text, truncated to the configured limit. */
  readonly payload: string;
  /** Size of the whole payload as received. */
  readonly payloadBytes: number;
}

export interface StoredDeadLetter extends DeadLetter {
  readonly id: number;
}

export interface DeadLetterFilter {
  readonly reason?: string;
  readonly deviceId?: string;
  readonly site?: string;
  readonly from?: number;
  readonly to?: number;
  readonly limit?: number;
  readonly offset?: number;
}

/** Where refused messages are kept for inspection (SQL table `dead_letters`). */
export interface DeadLetterStore {
  insert(letters: readonly DeadLetter[]): Promise<void>;
  /** Newest first; `total` counts every match, not just the page. */
  list(filter?: DeadLetterFilter): Promise<{ items: StoredDeadLetter[]; total: number }>;
  countByReason(): Promise<Record<string, number>>;
  /** Keeps the newest `keep` letters; answers how many were deleted. */
  prune(keep: number): Promise<number>;
}
