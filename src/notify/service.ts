/**
 * What people do with pushes, through the API and the command line: who is on call and the chain
 * of each grade, overrides (swap, leave, holiday) that need no restart, the delivery log, the
 * acknowledge links, a test message on a channel.
 */
import { randomBytes } from 'node:crypto';
import { GRADES, type Grade } from '../kernel/grades.js';
import { verifyAckLink } from './links.js';
import type { Notifier } from './notifier.js';
import { OVERRIDE_KINDS, type OverrideKind } from './roster-schema.js';
import type { NotifySettings } from './settings.js';
import type { Delivery, DeliveryAttempt, DeliveryFilter, NotificationStore, StoredOverride } from './store.js';
import type { Channel, Notification, SendResult, WorkOrderDesk, WorkOrderFacts } from './types.js';

/** A request the service refuses: 400 (bad input), 404 (no such thing), 409 (conflict). */
export class NotifyError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'NotifyError';
  }
}

export interface OverrideInput {
  readonly id?: string;
  readonly rotation: string;
  readonly kind: OverrideKind;
  readonly from: number;
  readonly until: number;
  readonly replaces?: string;
  readonly replacement: string;
  readonly reason?: string;
}

/** What an acknowledge link's page shows. */
export type LinkState =
  | { readonly state: 'malformed' | 'tampered' }
  | { readonly state: 'expired' | 'not_found'; readonly workOrder?: WorkOrderFacts; readonly person?: string }
  | { readonly state: 'used'; readonly workOrder?: WorkOrderFacts; readonly person: string; readonly usedAt: number }
  | { readonly state: 'acknowledged'; readonly workOrder: WorkOrderFacts; readonly person: string }
  | { readonly state: 'open'; readonly workOrder: WorkOrderFacts; readonly person: string; readonly personName: string; readonly expiresAt: number };

export type LinkAcknowledgement = LinkState | { readonly state: 'done'; readonly workOrder: WorkOrderFacts; readonly person: string; readonly personName: string };

export interface NotifyServiceOptions {
  readonly settings: NotifySettings;
  readonly store: NotificationStore;
  readonly desk: WorkOrderDesk;
  readonly notifier: Notifier;
  readonly channels: ReadonlyMap<string, Channel>;
  readonly linkSecret: string;
  readonly now?: () => number;
}

export class NotifyService {
  constructor(private readonly options: NotifyServiceOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  get enabled(): boolean {
    return this.options.notifier.enabled;
  }

  /** People by id with their names and channel ids (no contacts). */
  people(): Array<{ id: string; name: string; channels: string[] }> {
    return Object.entries(this.options.settings.people).map(([id, p]) => ({ id, name: p.name, channels: [...p.channels] }));
  }

  channelIds(): Array<{ id: string; type: string }> {
    return Object.entries(this.options.settings.channels).map(([id, c]) => ({ id, type: c.type }));
  }

  /** Who is on call at the site at `at` per role, and the chain of `grade` (every grade when absent). */
  onCall(site: string, at: number, grade?: Grade) {
    return this.options.notifier.onCall(site, at, grade === undefined ? [...GRADES].reverse() : [grade]);
  }

  overrides(): Promise<StoredOverride[]> {
    return this.options.store.overrides();
  }

  /** Adds an override after checking its rotation and people exist; 409 when the id is taken. */
  async addOverride(input: OverrideInput, by: string): Promise<StoredOverride> {
    const { settings } = this.options;
    if (!settings.rotations.some((r) => r.id === input.rotation)) throw new NotifyError(400, 'unknown_rotation', `rotation "${input.rotation}" is not in notify.rotations`);
    for (const person of [input.replacement, ...(input.replaces === undefined ? [] : [input.replaces])]) {
      if (!settings.people[person]) throw new NotifyError(400, 'unknown_person', `person "${person}" is not in notify.people`);
    }
    if (input.replaces !== undefined && input.replaces === input.replacement) throw new NotifyError(400, 'same_person', 'replacement is the person it replaces');
    if (!(input.until > input.from)) throw new NotifyError(400, 'bad_period', 'until must be after from');
    if (!OVERRIDE_KINDS.includes(input.kind)) throw new NotifyError(400, 'bad_kind', `kind must be one of ${OVERRIDE_KINDS.join(', ')}`);
    const id = input.id ?? `ovr-${randomBytes(6).toString('hex')}`;
    if (settings.overrides.some((o) => o.id === id)) throw new NotifyError(409, 'override_exists', `override "${id}" is in the config file`);
    const override: StoredOverride = {
      id,
      rotation: input.rotation,
      kind: input.kind,
      from: input.from,
      until: input.until,
      ...(input.replaces !== undefined && { replaces: input.replaces }),
      replacement: input.replacement,
      ...(input.reason !== undefined && { reason: input.reason }),
      createdAt: this.now(),
      createdBy: by,
    };
    try {
      await this.options.store.addOverride(override);
    } catch (error) {
      if ((await this.options.store.overrides()).some((o) => o.id === id)) throw new NotifyError(409, 'override_exists', `override "${id}" exists`);
      throw error;
    }
    this.options.notifier.forgetRoster();
    return override;
  }

  async removeOverride(id: string): Promise<boolean> {
    const removed = await this.options.store.removeOverride(id);
    this.options.notifier.forgetRoster();
    return removed;
  }

  /** The delivery log: deliveries, newest first, each with its attempts (`log`). */
  async deliveries(filter: DeliveryFilter, page: { limit: number; offset: number }): Promise<{ items: Array<Delivery & { log: DeliveryAttempt[] }>; total: number }> {
    const { items, total } = await this.options.store.list(filter, page);
    const attempts = await this.options.store.attempts(items.map((d) => d.id));
    const byDelivery = new Map<number, DeliveryAttempt[]>();
    for (const a of attempts) byDelivery.set(a.delivery, [...(byDelivery.get(a.delivery) ?? []), a]);
    return { items: items.map((d) => ({ ...d, log: byDelivery.get(d.id) ?? [] })), total };
  }

  /** What a link's page shows; GET never changes anything. */
  async checkLink(token: string): Promise<LinkState> {
    const check = verifyAckLink(this.options.linkSecret, token, this.now());
    if (!check.ok && (check.reason === 'malformed' || check.reason === 'tampered')) return { state: check.reason };
    const link = check.link!;
    const workOrder = await this.options.desk.facts(link.workOrderId);
    if (!check.ok) return { state: 'expired', ...(workOrder && { workOrder }), person: link.person };
    if (!workOrder) return { state: 'not_found', person: link.person };
    const use = await this.options.store.linkUse(link.linkId);
    if (use) return { state: 'used', workOrder, person: use.person, usedAt: use.at };
    if (workOrder.status !== 'new' && workOrder.status !== 'notified') return { state: 'acknowledged', workOrder, person: link.person };
    const personName = this.options.settings.people[link.person]?.name ?? link.person;
    return { state: 'open', workOrder, person: link.person, personName, expiresAt: link.expiresAt };
  }

  /** The link's button: acknowledges as the link's person, once; anything else changes nothing. */
  async acknowledgeByLink(token: string): Promise<LinkAcknowledgement> {
    const state = await this.checkLink(token);
    if (state.state !== 'open') return state;
    const link = verifyAckLink(this.options.linkSecret, token, this.now());
    if (!link.ok) return { state: 'expired', workOrder: state.workOrder, person: state.person };
    if (!(await this.options.store.useLink(link.link.linkId, state.workOrder.id, state.person, this.now()))) {
      const use = await this.options.store.linkUse(link.link.linkId);
      return { state: 'used', workOrder: state.workOrder, person: use?.person ?? state.person, usedAt: use?.at ?? this.now() };
    }
    const result = await this.options.desk.acknowledge(state.workOrder.id, state.person, state.personName, 'link');
    const fresh = (await this.options.desk.facts(state.workOrder.id)) ?? state.workOrder;
    if (result === 'acknowledged') {
      this.options.notifier.kick();
      return { state: 'done', workOrder: fresh, person: state.person, personName: state.personName };
    }
    if (result === 'not_found') return { state: 'not_found', person: state.person };
    return { state: 'acknowledged', workOrder: fresh, person: state.person };
  }

  /** Sends a test message on a channel to a person (default: the first person who uses it). */
  async test(channelId: string, personId: string | undefined, build: (recipient: Notification['recipient']) => Notification): Promise<SendResult> {
    const channel = this.options.channels.get(channelId);
    if (!channel) throw new NotifyError(404, 'unknown_channel', `channel "${channelId}" is not in notify.channels`);
    return sendTest(this.options.settings, channel, personId, build);
  }
}

/** A test message on a channel to a person (default: the first person who uses it, else a stand-in). */
export async function sendTest(settings: NotifySettings, channel: Channel, personId: string | undefined, build: (recipient: Notification['recipient']) => Notification): Promise<SendResult> {
  const id = personId ?? Object.entries(settings.people).find(([, p]) => p.channels.includes(channel.id))?.[0];
  const person = id === undefined ? undefined : settings.people[id];
  if (personId !== undefined && !person) throw new NotifyError(404, 'unknown_person', `person "${personId}" is not in notify.people`);
  const handle = person?.contacts[channel.id];
  const recipient = person
    ? { id: id!, name: person.name, ...(person.phone && { phone: person.phone }), ...(person.email && { email: person.email }), ...(handle && { handle }) }
    : { id: 'test', name: '测试 / test' };
  if (!channel.canReach(recipient)) throw new NotifyError(400, 'unreachable', `channel "${channel.id}" cannot reach ${recipient.name} (an e-mail channel needs an address, SMS a phone)`);
  return channel.send(build(recipient), AbortSignal.timeout(60_000));
}
