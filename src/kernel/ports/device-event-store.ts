import type { DeviceEvent } from '../device.js';

export interface StoredDeviceEvent extends DeviceEvent {
  readonly id: number;
  readonly receivedAt: number;
}

export interface DeviceEventFilter {
  readonly deviceId?: string;
  readonly code?: string;
  readonly from?: number;
  readonly to?: number;
  readonly limit?: number;
  readonly offset?: number;
}

/** Discrete device events (error codes, arcs, quench), stored once per (device, ts, code). */
export interface DeviceEventStore {
  insert(events: readonly DeviceEvent[], receivedAt: number): Promise<void>;
  /** Newest first; `total` counts every match. */
  list(filter: DeviceEventFilter): Promise<{ items: StoredDeviceEvent[]; total: number }>;
}
