import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { DeviceRegistry } from '../devices/registry.js';
import type { RuleSet } from '../../rules/rule-set.js';
import type { RuleEngine } from '../../rules/engine.js';
import type { DeadLetterRepository } from '../storage/sql/dead-letter-repository.js';
import type { DeviceEventRepository } from '../storage/sql/event-repository.js';
import type { TelemetryStore } from '../kernel/ports/telemetry-store.js';
import type { SilenceService } from '../silences/silence-service.js';
import type { ApiTokens } from '../auth/tokens.js';
import type { WorkOrderService } from '../workorders/service.js';

/** A dependency /readyz checks: the broker connection, each store. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void> | void;
}

/** What the API plugins need; the server composes them with it. */
export interface ApiContext {
  readonly registry: DeviceRegistry;
  readonly rules: RuleSet;
  readonly alerts: RuleEngine;
  readonly telemetry: TelemetryStore;
  readonly deadLetters: DeadLetterRepository;
  readonly events: DeviceEventRepository;
  /** Silences (maintenance windows). */
  readonly silences: SilenceService;
  readonly workOrders: WorkOrderService;
  /** API tokens with roles, beside the admin token. */
  readonly tokens: ApiTokens;
  readonly metrics: Registry;
  readonly readiness: readonly ReadinessCheck[];
  /** Bearer tokens accepted with full rights. */
  readonly adminToken: string;
  readonly logger: Logger;
  readonly now: () => number;
  readonly version: string;
}
