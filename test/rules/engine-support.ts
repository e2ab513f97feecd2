/**
 * The rule engine's ports in memory, for engine tests that need no database: a device directory
 * and an alert store (alerts and their changes written together, or not at all).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { RuleEngine, type RuleEngineOptions } from '../../rules/engine.js';
import { RuleSet } from '../../rules/rule-set.js';
import { silentLogger } from '../../src/app/log.js';
import type { AlertChange, AlertTransition } from '../../src/kernel/alerts.js';
import type { DeviceInput, DeviceState, RegisteredDevice, Site } from '../../src/kernel/device.js';
import type { AlertStore, StoredAlert } from '../../src/kernel/ports/alert-store.js';
import type { DeviceDirectory } from '../../src/kernel/ports/device-directory.js';

export class MemoryDirectory implements DeviceDirectory {
  private readonly devices = new Map<string, RegisteredDevice>();
  private readonly sites = new Map<string, Site>();

  constructor(sites: readonly Site[], devices: readonly DeviceInput[]) {
    for (const site of sites) this.sites.set(site.id, site);
    for (const d of devices) this.devices.set(d.id, { ...d, source: 'api', unknownMetrics: [] } as RegisteredDevice);
  }

  get(id: string): RegisteredDevice | undefined {
    return this.devices.get(id);
  }

  list(): RegisteredDevice[] {
    return [...this.devices.values()];
  }

  getSite(id: string): Site | undefined {
    return this.sites.get(id);
  }

  listSites(): Site[] {
    return [...this.sites.values()];
  }

  async upsert(input: DeviceInput): Promise<RegisteredDevice> {
    const device = { ...this.devices.get(input.id), ...input, source: 'api', unknownMetrics: [] } as RegisteredDevice;
    this.devices.set(input.id, device);
    return device;
  }

  async recordStatus(id: string, state: DeviceState, ts: number): Promise<boolean> {
    const device = this.devices.get(id);
    if (!device) return false;
    this.devices.set(id, { ...device, status: { state, ts } });
    return true;
  }

  touch(): void {}

  async flagUnknownMetrics(): Promise<void> {}
}

/** Alerts by (device, rule) and the outbox of changes, written in one step; `failNext` saves fail first. */
export class MemoryAlertStore implements AlertStore {
  readonly rows = new Map<string, StoredAlert>();
  readonly changes: AlertChange[] = [];
  /** Every call of `save`, failed ones included. */
  readonly calls: Array<{ alerts: readonly StoredAlert[]; changes: readonly AlertChange[]; failed: boolean }> = [];
  failNext = 0;

  async save(alerts: readonly StoredAlert[], changes: readonly AlertChange[] = []): Promise<void> {
    const failed = this.failNext > 0;
    this.calls.push({ alerts, changes, failed });
    if (failed) {
      this.failNext -= 1;
      throw new Error('database is locked');
    }
    for (const a of alerts) this.rows.set(`${a.deviceId}/${a.ruleId}`, a);
    this.changes.push(...changes);
  }

  async all(): Promise<StoredAlert[]> {
    return [...this.rows.values()];
  }
}

export const SITE: Site = { id: 'h1', name: '第一医院', nameEn: 'First Hospital', timezone: 'Asia/Shanghai' };
export const MR: DeviceInput = { id: 'MR-1', site: 'h1', modality: 'MR', vendor: 'GE', model: 'SIGNA' };
export const CT: DeviceInput = { id: 'CT-1', site: 'h1', modality: 'CT', vendor: 'GE', model: 'Revolution' };

/** A rule engine on the packs given (by modality file name), with in-memory ports and its transitions recorded. */
export async function memoryEngine(
  dir: string,
  packs: Readonly<Record<string, string>>,
  options: Partial<Omit<RuleEngineOptions, 'rules' | 'registry' | 'repository'>> & { store?: MemoryAlertStore } = {},
) {
  const folder = join(dir, 'packs');
  mkdirSync(folder, { recursive: true });
  for (const [file, text] of Object.entries(packs)) writeFileSync(join(folder, file), text);
  const logger = options.logger ?? silentLogger();
  const rules = new RuleSet(folder, logger);
  expect(await rules.load()).toMatchObject({ ok: true });
  const registry = new MemoryDirectory([SITE], [MR, CT]);
  const store = options.store ?? new MemoryAlertStore();
  const engine = new RuleEngine({ ...options, rules, registry, repository: store, logger });
  await engine.warm();
  const transitions: Array<AlertTransition & { rule: string }> = [];
  engine.onTransition((alert, ts) => transitions.push(...ts.map((t) => ({ ...t, rule: alert.ruleId }))));
  return { engine, registry, rules, store, transitions };
}
