import { z } from 'zod';
import { MODALITIES } from './catalogue/metrics.js';
import { isSingleLineText, SINGLE_LINE_TEXT_MESSAGE } from './text.js';
import { isTimeZone } from './time/zone.js';

/** A name or label of a site or device: one line, no control characters. */
const label = (min: number, max: number) => z.string().min(min).max(max).refine(isSingleLineText, SINGLE_LINE_TEXT_MESSAGE);

/** Ids travel in MQTT topics and URLs: keep them to a safe alphabet. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const IdSchema = z.string().regex(ID_PATTERN, 'letters, digits, "_", "." or "-", at most 64, not starting with a symbol');

export const LocationSchema = z.object({
  department: label(1, 100),
  floor: label(0, 20).optional(),
  room: label(0, 50).optional(),
});

export const SiteSchema = z.object({
  id: IdSchema,
  name: label(1, 200),
  nameEn: label(0, 200).optional(),
  timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as Asia/Shanghai').default('Asia/Shanghai'),
});
export type Site = z.infer<typeof SiteSchema>;

/** A scanner as registered: from the fleet file, `POST /api/devices` or auto-registration. */
export const DeviceSchema = z.object({
  id: IdSchema,
  site: IdSchema,
  modality: z.enum(MODALITIES),
  vendor: label(1, 100),
  model: label(1, 100),
  serial: label(0, 100).optional(),
  installDate: z.iso.date().optional(),
  name: label(0, 200).optional(),
  location: LocationSchema.optional(),
});
export type Device = z.infer<typeof DeviceSchema>;
export type DeviceInput = z.input<typeof DeviceSchema>;

/** A discrete event a device reported on its event topic (error code, tube arc, quench). */
export interface DeviceEvent {
  readonly deviceId: string;
  readonly ts: number;
  readonly code: string;
  readonly message?: string;
  readonly data?: Record<string, unknown>;
}

export type RegistrationSource = 'fleet' | 'api' | 'auto';
export type DeviceState = 'online' | 'offline' | 'scanning' | 'standby' | 'service';

/** A registered device with what ingest has learned about it. */
export interface RegisteredDevice extends Device {
  readonly source: RegistrationSource;
  readonly status?: { readonly state: DeviceState; readonly ts: number };
  readonly lastSeen?: number;
  /** Metric names outside the modality's catalogue that were stored, flagged. */
  readonly unknownMetrics: readonly string[];
}

export class UnknownSiteError extends Error {
  constructor(readonly site: string) {
    super(`site ${site} is not registered; create it first with POST /api/sites`);
    this.name = 'UnknownSiteError';
  }
}

export class DeviceConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceConflictError';
  }
}
