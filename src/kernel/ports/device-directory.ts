import type { Modality } from '../catalogue/metrics.js';
import type { DeviceInput, DeviceState, RegisteredDevice, RegistrationSource, Site } from '../device.js';

/**
 * The registered fleet as the features see it: looked up for every message, so answered from
 * memory; writes go through to the SQL database. The devices feature's registry implements it.
 */
export interface DeviceDirectory {
  get(id: string): RegisteredDevice | undefined;
  list(filter?: { site?: string; modality?: Modality }): RegisteredDevice[];
  getSite(id: string): Site | undefined;
  listSites(): Site[];
  /** Registers or updates a device; an unknown site is refused with `UnknownSiteError`. */
  upsert(input: DeviceInput, source: RegistrationSource): Promise<RegisteredDevice>;
  /** Records a status report; false when it is older than the one already recorded. */
  recordStatus(id: string, state: DeviceState, ts: number, receivedAt?: number): Promise<boolean>;
  /** Notes the newest sample time of a device (written back in bulk). */
  touch(id: string, ts: number): void;
  flagUnknownMetrics(id: string, names: readonly string[]): Promise<void>;
}
