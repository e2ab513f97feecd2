import type { z } from 'zod';
import type { Modality } from '../kernel/catalogue/metrics.js';
import { DeviceSchema, SiteSchema, DeviceConflictError, UnknownSiteError, type DeviceInput, type DeviceState, type RegisteredDevice, type RegistrationSource, type Site } from '../kernel/device.js';
import type { DeviceDirectory } from '../kernel/ports/device-directory.js';
import type { DeviceStore } from './store.js';

/**
 * The device registry: sites and devices in a `DeviceStore` (the SQL database), mirrored in memory because the
 * collector looks a device up for every message. Last-seen times are kept in memory and written
 * back in bulk by `flush()` rather than once per message.
 */
export class DeviceRegistry implements DeviceDirectory {
  private readonly devices = new Map<string, RegisteredDevice>();
  private readonly sites = new Map<string, Site>();
  private readonly dirtyLastSeen = new Map<string, number>();

  private constructor(
    private readonly store: DeviceStore,
    private readonly now: () => number,
  ) {}

  static async open(store: DeviceStore, now: () => number = Date.now): Promise<DeviceRegistry> {
    const registry = new DeviceRegistry(store, now);
    for (const site of await store.loadSites()) registry.sites.set(site.id, site);
    for (const device of await store.loadDevices()) registry.devices.set(device.id, device);
    return registry;
  }

  get(id: string): RegisteredDevice | undefined {
    return this.devices.get(id);
  }

  list(filter: { site?: string; modality?: Modality } = {}): RegisteredDevice[] {
    return [...this.devices.values()]
      .filter((d) => (!filter.site || d.site === filter.site) && (!filter.modality || d.modality === filter.modality))
      .sort((a, b) => a.site.localeCompare(b.site) || a.id.localeCompare(b.id));
  }

  getSite(id: string): Site | undefined {
    return this.sites.get(id);
  }

  listSites(): Site[] {
    return [...this.sites.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Creates or updates a site. */
  async upsertSite(input: z.input<typeof SiteSchema>): Promise<Site> {
    const site = SiteSchema.parse(input);
    await this.store.upsertSite(site, this.now());
    this.sites.set(site.id, site);
    return site;
  }

  /** Changes a site's description; fields not given stay as they are. */
  async updateSite(id: string, patch: Partial<z.input<typeof SiteSchema>>): Promise<Site> {
    const existing = this.sites.get(id);
    if (!existing) throw new UnknownSiteError(id);
    return this.upsertSite({ ...existing, ...patch, id });
  }

  /**
   * Registers a device, or updates its description when it exists. A site that is not known yet
   * is created with its id as its name. Moving a device to another site is refused: its history
   * and topics belong to the site it reported from.
   */
  async upsert(input: DeviceInput, source: RegistrationSource): Promise<RegisteredDevice> {
    const device = DeviceSchema.parse(input);
    const existing = this.devices.get(device.id);
    if (existing && existing.site !== device.site) {
      throw new DeviceConflictError(`device ${device.id} is registered at site ${existing.site}, not ${device.site}`);
    }
    if (!this.sites.has(device.site)) await this.upsertSite({ id: device.site, name: device.site });
    // A device that reported first and is described later keeps "auto" only until a person or
    // the fleet file describes it.
    const keptSource = existing && source === 'auto' ? existing.source : source;
    await this.store.upsertDevice(device, keptSource, this.now());
    const registered: RegisteredDevice = {
      ...device,
      source: keptSource,
      unknownMetrics: existing?.unknownMetrics ?? [],
      ...(existing?.status && { status: existing.status }),
      ...(existing?.lastSeen !== undefined && { lastSeen: existing.lastSeen }),
    };
    this.devices.set(device.id, registered);
    return registered;
  }

  /** Registers a new device at a known site; refuses an id that exists or a site that does not. */
  async create(input: DeviceInput, source: RegistrationSource): Promise<RegisteredDevice> {
    const device = DeviceSchema.parse(input);
    if (this.devices.has(device.id)) throw new DeviceConflictError(`device ${device.id} exists; change it with PATCH /api/devices/${device.id}`);
    if (!this.sites.has(device.site)) throw new UnknownSiteError(device.site);
    return this.upsert(device, source);
  }

  /**
   * Changes a device's description: fields not given stay as they are. Site and modality are its
   * identity (topics, catalogue, history) and cannot change.
   */
  async update(id: string, patch: Partial<DeviceInput>): Promise<RegisteredDevice> {
    const existing = this.devices.get(id);
    if (!existing) throw new DeviceConflictError(`no device ${id}`);
    if (patch.site !== undefined && patch.site !== existing.site) throw new DeviceConflictError(`device ${id} belongs to site ${existing.site}; its site cannot change`);
    if (patch.modality !== undefined && patch.modality !== existing.modality) {
      throw new DeviceConflictError(`device ${id} is ${existing.modality}; its modality cannot change (register a new device instead)`);
    }
    const { source, status: _s, lastSeen: _l, unknownMetrics: _u, ...description } = existing;
    const location = patch.location ? { ...description.location, ...patch.location } : description.location;
    return this.upsert({ ...description, ...patch, ...(location && { location }), id, site: existing.site, modality: existing.modality }, source === 'auto' ? 'api' : source);
  }

  /**
   * Records a device's reported state. Status is a retained topic, so the message that arrives
   * last is the device's state; a last will (`offline`) carries the time the device connected,
   * so a report dated before the current one is recorded at the time it arrived instead.
   */
  async recordStatus(id: string, state: DeviceState, ts: number, receivedAt: number = this.now()): Promise<boolean> {
    const device = this.devices.get(id);
    if (!device) return false;
    const at = device.status && device.status.ts > ts ? Math.max(receivedAt, device.status.ts) : ts;
    await this.store.setStatus(id, state, at);
    this.devices.set(id, { ...device, status: { state, ts: at } });
    return true;
  }

  /** Notes that data from the device arrived, dated `ts`. Written back by `flush()`. */
  touch(id: string, ts: number): void {
    const device = this.devices.get(id);
    if (!device || (device.lastSeen !== undefined && device.lastSeen >= ts)) return;
    // In place: this runs for every message, and the record is the registry's own.
    (device as { lastSeen?: number }).lastSeen = ts;
    this.dirtyLastSeen.set(id, ts);
  }

  /** Flags metric names outside the catalogue that were stored for the device. */
  async flagUnknownMetrics(id: string, names: readonly string[]): Promise<void> {
    const device = this.devices.get(id);
    if (!device) return;
    const added = names.filter((n) => !device.unknownMetrics.includes(n));
    if (added.length === 0) return;
    const unknownMetrics = [...device.unknownMetrics, ...added].sort();
    this.devices.set(id, { ...device, unknownMetrics });
    await this.store.setUnknownMetrics(id, unknownMetrics);
  }

  /** Writes pending last-seen times. */
  async flush(): Promise<void> {
    if (this.dirtyLastSeen.size === 0) return;
    const pending = [...this.dirtyLastSeen];
    this.dirtyLastSeen.clear();
    await this.store.setLastSeen(pending);
  }
}
