import type { Device, DeviceState, RegisteredDevice, RegistrationSource, Site } from '../kernel/device.js';

/**
 * Where the registry keeps sites and devices. The registry mirrors them in memory (the collector
 * looks a device up for every message) and writes through this port; the SQL adapter is
 * `src/storage/sql/device-repository.ts`.
 */
export interface DeviceStore {
  loadSites(): Promise<Site[]>;
  loadDevices(): Promise<RegisteredDevice[]>;
  /** Creates or replaces a site's description; `at` is its creation time when new. */
  upsertSite(site: Site, at: number): Promise<void>;
  /**
   * Creates a device (no status, never seen) or replaces its description and source, keeping
   * its status, last-seen time and flagged metrics.
   */
  upsertDevice(device: Device, source: RegistrationSource, at: number): Promise<void>;
  setStatus(id: string, state: DeviceState, ts: number): Promise<void>;
  setUnknownMetrics(id: string, names: readonly string[]): Promise<void>;
  /** Writes last-seen times in one transaction. */
  setLastSeen(entries: ReadonlyArray<readonly [id: string, ts: number]>): Promise<void>;
}
