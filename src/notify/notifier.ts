/**
 * The notifier: turns notices (recorded with the work-order change that causes them) into
 * messages to the people on call, escalates until someone acknowledges, and keeps the delivery log.
 *
 * Three stages, each reading and writing the SQL database through the `NotificationStore` port, so
 * a crash loses nothing and several engines on one database share the work:
 * 1. **plan** a claimed notice: a call (opened, escalated, reopened) resolves the grade's chain at
 *    the site — level 0 becomes deliveries at once, later levels escalation steps due at their
 *    time; a minor fault's call waits for the morning digest; recovery and resolution go to
 *    whoever the work order's messages reached;
 * 2. **escalate** a due step: the next level's deliveries, committed only while the work order is
 *    still unacknowledged (the store decides that atomically with the acknowledgement);
 * 3. **send** due deliveries: one attempt each per round, retried with exponential back-off and
 *    jitter (a receiver's Retry-After honoured), a permanent failure moving to the person's next
 *    channel; a channel's rate limit folds the excess into one digest message, never drops it.
 *
 * The stages run when woken (`kick()`: right after this engine records a notice) and on a timer
 * (`poll`: notices of other engines, due steps and retries).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Grade } from '../kernel/grades.js';
import { CALLING_NOTICES, type NoticeKind } from '../kernel/notices.js';
import type { SilenceLookup } from '../kernel/ports/silence-lookup.js';
import { chainFor, channelsFor, nextChannel, peopleOf, resolveTarget, type Chain } from './escalation.js';
import { signAckLink } from './links.js';
import { compileRoster, compileRotation, nextHandover, onCallAt, type OnCallRoster } from './oncall.js';
import { ONCALL_ROLES, type Override, type Person } from './roster-schema.js';
import { policyFor, type NotifySettings } from './settings.js';
import type { Delivery, DeliveryOutcome, EscalationStep, NewDelivery, NoticeEntry, NotificationStore, StoredOverride } from './store.js';
import type { Channel, Notification, NotificationEvent, NotificationItem, Recipient, SendResult, WorkOrderDesk, WorkOrderFacts } from './types.js';

export interface NotifierOptions {
  readonly settings: NotifySettings;
  readonly store: NotificationStore;
  readonly desk: WorkOrderDesk;
  readonly channels: ReadonlyMap<string, Channel>;
  /** Maintenance windows hold calls as they hold work orders. */
  readonly silences?: SilenceLookup;
  /** The site's IANA zone (digest time). */
  readonly siteZone: (site: string) => string;
  readonly linkSecret: string;
  /** Base of the links in messages, without a trailing slash (read when a message is made: the API's address is known once it listens). */
  readonly publicUrl: () => string;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Off: notices are marked done without messages (so turning pushes on later does not send old news). */
  readonly enabled?: boolean;
  /** Jitter source in [0, 1) (tests pass a fixed one). */
  readonly random?: () => number;
}

/** Counts since start, for /metrics. */
export interface NotifierCounts {
  readonly planned: number;
  readonly escalated: number;
  readonly cancelled: number;
  readonly sent: number;
  readonly retried: number;
  readonly failed: number;
  readonly folded: number;
  readonly held: number;
  readonly errors: number;
}

const HOLD_RECHECK_MS = 30_000;
const RATE_WINDOW_MS = 60_000;
const MAX_CONCURRENT_SENDS = 16;
const BATCH = 100;

/** Stable id of one notification to one person on one channel: the same on every retry and after a crash. */
export function deliveryIdOf(parts: { workOrderId?: number; noticeId?: number; level: number; person: string; channel: string; event: string }): string {
  const text = `${parts.workOrderId ?? ''}|${parts.noticeId ?? ''}|${parts.level}|${parts.person}|${parts.channel}|${parts.event}`;
  return createHash('sha256').update(text).digest('base64url').slice(0, 27);
}

/** Stable id of a digest message: the same members give the same id. */
export function digestIdOf(members: readonly string[]): string {
  return `digest-${createHash('sha256').update([...members].sort().join('|')).digest('base64url').slice(0, 27)}`;
}

/** Back-off of the n-th failed attempt (1-based): doubling from `first` up to `max`, ±25 % jitter. */
export function backoff(attempt: number, first: number, max: number, random: () => number): number {
  const base = Math.min(max, first * 2 ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(base * (0.75 + random() * 0.5)));
}

export class Notifier {
  private readonly counts = { planned: 0, escalated: 0, cancelled: 0, sent: 0, retried: 0, failed: 0, folded: 0, held: 0, errors: 0 };
  private readonly latencies: number[] = [];
  private stopped = true;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private rosterCache: { roster: OnCallRoster; at: number } | undefined;
  private readonly latencyListeners: Array<(ms: number, delivery: Delivery) => void> = [];

  constructor(private readonly options: NotifierOptions) {}

  private get settings(): NotifySettings {
    return this.options.settings;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  get enabled(): boolean {
    return this.options.enabled !== false;
  }

  counters(): NotifierCounts {
    return { ...this.counts };
  }

  /** Called with the time from a notice to its delivery, for each call sent (metrics). */
  onDelivered(listener: (ms: number, delivery: Delivery) => void): void {
    this.latencyListeners.push(listener);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await Promise.all([...this.options.channels.values()].map((c) => c.close?.().catch(() => undefined)));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.kick();
      this.schedule();
    }, this.settings.poll);
    this.timer.unref();
  }

  /** Runs the stages now (or right after the round in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.runOnce();
        } catch (error) {
          this.counts.errors += 1;
          this.options.logger.error({ err: error }, 'notifier round failed; retried on the next poll');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** One round of every stage; returns what it did. */
  async runOnce(): Promise<{ planned: number; stepped: number; sent: number }> {
    const planned = await this.planNotices();
    const stepped = await this.escalate();
    const sent = await this.send();
    return { planned, stepped, sent };
  }

  // ── on call ────────────────────────────────────────────────────────────────────────────────

  /** The roster with the overrides made through the API (read at most every 2 s, so other engines' overrides count within seconds). */
  async roster(): Promise<OnCallRoster> {
    const now = this.now();
    if (this.rosterCache && now - this.rosterCache.at < 2_000) return this.rosterCache.roster;
    const stored = await this.options.store.overrides();
    const roster = compileRoster({ ...this.settings, overrides: [...this.settings.overrides, ...stored.map(storedToOverride)] });
    this.rosterCache = { roster, at: now };
    return roster;
  }

  /** Drops the cached roster (after an override is added or removed here). */
  forgetRoster(): void {
    this.rosterCache = undefined;
  }

  /** Who is on call at a site at `at` for each role, and the chain of each grade (or one). */
  async onCall(site: string, at: number, grades: readonly Grade[]) {
    const roster = await this.roster();
    const roles = ONCALL_ROLES.map((role) => {
      const target = resolveTarget(roster, this.settings.people, site, role, at);
      const onCall = onCallAt(roster, site, at, role);
      return { ...target, ...(onCall && { shift: { start: onCall.shift.start, end: onCall.shift.end } }) };
    });
    const chains: Chain[] = grades.map((grade) => chainFor(this.settings, roster, site, grade, at));
    return { roles, chains };
  }

  person(id: string): (Person & { id: string }) | undefined {
    const p = this.settings.people[id];
    return p && { ...p, id };
  }

  // ── plan ───────────────────────────────────────────────────────────────────────────────────

  private async planNotices(): Promise<number> {
    let done = 0;
    for (;;) {
      const notices = await this.options.store.claimNotices(BATCH);
      for (const notice of notices) {
        try {
          if (await this.plan(notice)) done += 1;
        } catch (error) {
          this.counts.errors += 1;
          const retryAt = this.now() + backoff(notice.attempts, this.settings.retry.first, this.settings.retry.max, this.random);
          this.options.logger.error({ err: error, notice: notice.id, workOrder: notice.workOrderId }, 'notice could not be planned; retried');
          await this.options.store.failNotice(notice.id, String((error as Error).message ?? error), retryAt).catch(() => undefined);
        }
      }
      if (notices.length < BATCH || this.stopped) return done;
    }
  }

  private get random(): () => number {
    return this.options.random ?? Math.random;
  }

  private async plan(notice: NoticeEntry): Promise<boolean> {
    const { store } = this.options;
    const facts = this.enabled ? await this.options.desk.facts(notice.workOrderId) : undefined;
    if (!facts) return store.planNotice(notice.id, [], []);
    if (!CALLING_NOTICES.has(notice.kind)) return this.planInforming(notice, facts);
    const roster = await this.roster();
    const policy = policyFor(this.settings, notice.grade);
    if (policy.digest) {
      const target = resolveTarget(roster, this.settings.people, facts.siteId, 'primary', notice.createdAt);
      const dueAt = this.nextDigest(facts.siteId, notice.createdAt);
      const deliveries = target.person === undefined ? [] : this.deliveriesFor(notice, facts, 0, [target.person], 'first', { dueAt, digest: true });
      if (target.person === undefined) this.options.logger.warn({ workOrder: facts.number, site: facts.siteId }, 'nobody is on call for the site: the minor fault goes in no digest');
      const ok = await store.planNotice(notice.id, deliveries, [], { supersede: true });
      if (ok) this.counts.planned += 1;
      return ok;
    }
    const chain = chainFor(this.settings, roster, facts.siteId, notice.grade, notice.createdAt);
    const first = chain.steps[0]!;
    const now = this.now();
    const immediate = first.afterMs === 0 || first.at <= now;
    const deliveries = immediate ? this.deliveriesFor(notice, facts, 0, peopleOf(first), first.channels, { dueAt: now, digest: false }) : [];
    if (immediate && deliveries.length === 0) {
      this.options.logger.warn({ workOrder: facts.number, site: facts.siteId, grade: notice.grade, missing: first.to.flatMap((t) => (t.missing ? [t.missing] : [])) }, 'nobody to call at the first level; escalation goes on');
    }
    const steps = chain.steps.slice(immediate ? 1 : 0).map((s) => ({ level: s.level, dueAt: s.at }));
    if (steps.length === 0 && chain.repeat && chain.steps.length > 0) steps.push({ level: chain.steps.length, dueAt: chain.steps[chain.steps.length - 1]!.at + chain.repeat.everyMs });
    const ok = await store.planNotice(notice.id, deliveries, steps, { supersede: true });
    if (ok) {
      this.counts.planned += 1;
      this.options.logger.info({ workOrder: facts.number, notice: notice.kind, grade: notice.grade, calls: deliveries.length, steps: steps.length }, 'work order notice planned');
    }
    return ok;
  }

  private async planInforming(notice: NoticeEntry, facts: WorkOrderFacts): Promise<boolean> {
    const { store } = this.options;
    if (!this.settings.informRecovery) return store.planNotice(notice.id, [], []);
    const reached = await store.reached(notice.workOrderId);
    const now = this.now();
    const deliveries: NewDelivery[] = reached
      .filter(({ channel }) => this.options.channels.has(channel))
      .map(({ person, channel }) => ({
        deliveryId: deliveryIdOf({ workOrderId: facts.id, noticeId: notice.id, level: 0, person, channel, event: notice.kind }),
        workOrderId: facts.id,
        noticeId: notice.id,
        event: notice.kind,
        level: 0,
        person,
        channel,
        dueAt: now,
        digest: false,
        responsible: false,
      }));
    const ok = await store.planNotice(notice.id, deliveries, []);
    if (ok) this.counts.planned += 1;
    return ok;
  }

  /** The next digest time (`notify.digest.at`, the site's zone) after `at`. */
  nextDigest(site: string, at: number): number {
    const daily = compileRotation({ id: 'digest', role: 'primary', sites: [site], groups: [], zone: this.options.siteZone(site), handover: this.settings.digest.at, every: 'daily', start: '1970-01-05', members: ['digest'] });
    return nextHandover(daily, at);
  }

  private canReach(channelId: string, recipient: Recipient): boolean {
    const channel = this.options.channels.get(channelId);
    return channel !== undefined && channel.canReach(recipient);
  }

  private recipient(personId: string, channelId?: string): Recipient | undefined {
    const p = this.settings.people[personId];
    if (!p) return undefined;
    const handle = channelId === undefined ? undefined : p.contacts[channelId];
    return { id: personId, name: p.name, ...(p.phone && { phone: p.phone }), ...(p.email && { email: p.email }), ...(handle && { handle }) };
  }

  private deliveriesFor(
    notice: Pick<NoticeEntry, 'id' | 'kind'>,
    facts: WorkOrderFacts,
    level: number,
    people: readonly string[],
    selector: Parameters<typeof channelsFor>[1],
    when: { dueAt: number; digest: boolean },
  ): NewDelivery[] {
    const out: NewDelivery[] = [];
    for (const personId of people) {
      const person = this.settings.people[personId];
      if (!person) continue;
      const channels = channelsFor(person, selector, this.settings.channels, (c) => this.canReach(c, this.recipient(personId, c)!));
      if (channels.length === 0) this.options.logger.warn({ person: personId, workOrder: facts.number }, 'no channel of the person can reach them');
      for (const channel of channels) {
        out.push({
          deliveryId: deliveryIdOf({ workOrderId: facts.id, noticeId: notice.id, level, person: personId, channel, event: notice.kind }),
          workOrderId: facts.id,
          noticeId: notice.id,
          event: notice.kind,
          level,
          person: personId,
          channel,
          dueAt: when.dueAt,
          digest: when.digest,
          responsible: true,
        });
      }
    }
    return out;
  }

  // ── escalate ───────────────────────────────────────────────────────────────────────────────

  private async escalate(): Promise<number> {
    const { store } = this.options;
    let done = 0;
    const steps = await store.claimSteps(this.now(), BATCH);
    for (const step of steps) {
      try {
        done += (await this.escalateStep(step)) ? 1 : 0;
      } catch (error) {
        this.counts.errors += 1;
        this.options.logger.error({ err: error, step: step.id, workOrder: step.workOrderId }, 'escalation step failed; retried when its claim runs out');
      }
    }
    return done;
  }

  private async escalateStep(step: EscalationStep): Promise<boolean> {
    const { store, desk } = this.options;
    const facts = await desk.facts(step.workOrderId);
    if (!facts) return (await store.expandStep(step.id, [])) === 'expanded';
    if (this.silenced(facts)) {
      this.counts.held += 1;
      await store.deferStep(step.id, this.now() + HOLD_RECHECK_MS);
      return false;
    }
    const roster = await this.roster();
    const policy = policyFor(this.settings, facts.grade);
    const last = policy.steps.length - 1;
    const setting = policy.steps[Math.min(step.level, last)];
    if (!setting) return (await store.expandStep(step.id, [])) === 'expanded';
    const now = this.now();
    const people = peopleOf({ to: setting.to.map((ref) => resolveTarget(roster, this.settings.people, facts.siteId, ref, now)) });
    const kind: NoticeKind = 'escalated';
    const deliveries = this.deliveriesFor({ id: step.noticeId, kind }, facts, step.level, people, setting.channels, { dueAt: now, digest: false });
    const repeats = policy.repeat && step.level < last + policy.repeat.times;
    const next = repeats && step.level >= last ? { level: step.level + 1, dueAt: now + policy.repeat!.every } : undefined;
    const outcome = await store.expandStep(step.id, deliveries, next);
    if (outcome === 'expanded') {
      this.counts.escalated += 1;
      this.options.logger.warn({ workOrder: facts.number, level: step.level, people, grade: facts.grade }, 'nobody acknowledged: escalated to the next level');
    } else if (outcome === 'cancelled') {
      this.counts.cancelled += 1;
    }
    return outcome === 'expanded';
  }

  private silenced(facts: WorkOrderFacts): boolean {
    const lookup = this.options.silences;
    if (!lookup) return false;
    return lookup.activeFor({ siteId: facts.siteId, deviceId: facts.deviceId, ruleId: facts.ruleId ?? '' }, this.now()) !== undefined;
  }

  // ── send ───────────────────────────────────────────────────────────────────────────────────

  private async send(): Promise<number> {
    let sent = 0;
    for (;;) {
      const claimed = await this.options.store.claimDeliveries(this.now(), BATCH);
      if (claimed.length === 0) return sent;
      sent += await this.sendBatch(claimed);
      if (claimed.length < BATCH || this.stopped) return sent;
    }
  }

  private async sendBatch(claimed: readonly Delivery[]): Promise<number> {
    const facts = new Map<number, WorkOrderFacts | undefined>();
    const factsOf = async (id: number | undefined) => {
      if (id === undefined) return undefined;
      if (!facts.has(id)) facts.set(id, await this.options.desk.facts(id));
      return facts.get(id);
    };
    // Calls that are no longer wanted, or held by a silence, end here.
    const ready: Array<{ delivery: Delivery; facts: WorkOrderFacts }> = [];
    for (const delivery of claimed) {
      const f = await factsOf(delivery.workOrderId);
      const now = this.now();
      if (!f || !this.options.channels.has(delivery.channel) || !this.settings.people[delivery.person]) {
        await this.settle(delivery, { status: 'cancelled', lastError: !f ? 'the work order is gone' : 'the channel or person is no longer configured', attempt: { outcome: 'cancelled', at: now, error: 'not deliverable' }, counted: false });
        continue;
      }
      const calling = CALLING_NOTICES.has(delivery.event as NoticeKind);
      // Someone took it: the first call and the next levels are no longer wanted. A fault that got
      // worse (or came back) after someone took it is still told to the first level.
      const callsForAnOwner = delivery.level > 0 || delivery.event === 'opened';
      if (calling && callsForAnOwner && !delivery.digest && !(await this.options.store.unacknowledged(f.id))) {
        this.counts.cancelled += 1;
        await this.settle(delivery, { status: 'cancelled', lastError: `acknowledged before it went out (${f.status})`, attempt: { outcome: 'cancelled', at: now, error: 'acknowledged' }, counted: false });
        continue;
      }
      if (calling && this.silenced(f)) {
        this.counts.held += 1;
        await this.settle(delivery, { status: 'pending', dueAt: now + HOLD_RECHECK_MS, attempt: { outcome: 'held', at: now, error: 'a silence (maintenance window) holds it' }, counted: false });
        continue;
      }
      ready.push({ delivery, facts: f });
    }
    // Messages: a digest per person and channel for the morning digest; per channel, what the rate limit leaves room for.
    const messages: Array<{ members: Array<{ delivery: Delivery; facts: WorkOrderFacts }>; event: NotificationEvent }> = [];
    const digests = new Map<string, Array<{ delivery: Delivery; facts: WorkOrderFacts }>>();
    const byChannel = new Map<string, Array<{ delivery: Delivery; facts: WorkOrderFacts }>>();
    for (const item of ready) {
      if (item.delivery.digest) {
        const key = `${item.delivery.person}\u0000${item.delivery.channel}`;
        digests.set(key, [...(digests.get(key) ?? []), item]);
      } else {
        byChannel.set(item.delivery.channel, [...(byChannel.get(item.delivery.channel) ?? []), item]);
      }
    }
    for (const members of digests.values()) messages.push({ members, event: 'digest' });
    for (const [channelId, items] of byChannel) {
      const channel = this.options.channels.get(channelId)!;
      if (channel.perMinute === undefined) {
        for (const item of items) messages.push({ members: [item], event: item.delivery.event });
        continue;
      }
      const used = await this.options.store.sentSince(channelId, this.now() - RATE_WINDOW_MS);
      const room = channel.perMinute - used;
      if (items.length <= room) {
        for (const item of items) messages.push({ members: [item], event: item.delivery.event });
      } else if (room >= 1) {
        // Room for k messages: k − 1 go as they are, the rest in one digest.
        const single = items.slice(0, room - 1);
        for (const item of single) messages.push({ members: [item], event: item.delivery.event });
        messages.push({ members: items.slice(room - 1), event: 'digest' });
      } else {
        const now = this.now();
        for (const item of items) {
          this.counts.held += 1;
          await this.settle(item.delivery, { status: 'pending', dueAt: now + 5_000, attempt: { outcome: 'held', at: now, error: `rate limit: ${channel.perMinute} a minute` }, counted: false });
        }
      }
    }
    let sent = 0;
    const queue = [...messages];
    const workers = Array.from({ length: Math.min(MAX_CONCURRENT_SENDS, queue.length) }, async () => {
      for (let m = queue.shift(); m; m = queue.shift()) {
        if (await this.sendMessage(m.members, m.event)) sent += m.members.length;
      }
    });
    await Promise.all(workers);
    return sent;
  }

  private item(facts: WorkOrderFacts, person: string, calling: boolean): NotificationItem {
    const token = signAckLink(this.options.linkSecret, { workOrderId: facts.id, person, expiresAt: this.now() + this.settings.linkTtl });
    const url = `${this.options.publicUrl()}/ack/${token}`;
    const open = facts.status === 'new' || facts.status === 'notified';
    return { workOrder: facts, workOrderUrl: url, ...(calling && open && { ackUrl: url }) };
  }

  private async sendMessage(members: ReadonlyArray<{ delivery: Delivery; facts: WorkOrderFacts }>, event: NotificationEvent): Promise<boolean> {
    const head = members[0]!.delivery;
    const channel = this.options.channels.get(head.channel)!;
    const recipient = this.recipient(head.person, head.channel)!;
    const folded = members.length > 1 || event === 'digest';
    const deliveryId = folded ? digestIdOf(members.map((m) => m.delivery.deliveryId)) : head.deliveryId;
    const notification: Notification = {
      event,
      deliveryId,
      recipient,
      level: Math.max(...members.map((m) => m.delivery.level)),
      items: members.map((m) => this.item(m.facts, m.delivery.person, CALLING_NOTICES.has(m.delivery.event as NoticeKind))),
      createdAt: head.createdAt,
      language: this.settings.language,
    };
    const started = this.now();
    let result: SendResult;
    try {
      result = await channel.send(notification, AbortSignal.timeout(60_000));
    } catch (error) {
      result = { ok: false, retryable: true, error: String((error as Error).message ?? error) };
    }
    const at = this.now();
    const durationMs = at - started;
    if (result.ok) {
      for (const [i, m] of members.entries()) {
        const carrier = i === 0;
        await this.settle(m.delivery, {
          status: carrier ? 'sent' : 'folded',
          sentAt: at,
          ...(folded && { foldedInto: deliveryId }),
          attempt: { outcome: carrier ? 'sent' : 'folded', at, ...(result.status !== undefined && { status: result.status }), durationMs },
          counted: true,
        });
        this.counts[carrier ? 'sent' : 'folded'] += 1;
        for (const listener of this.latencyListeners) listener(at - m.delivery.createdAt, m.delivery);
        if (m.delivery.responsible && m.facts.status === 'new') {
          await this.options.desk.markNotified(m.facts.id, at, `notify:${m.delivery.person}`, m.delivery.channel).catch((error: unknown) => {
            this.options.logger.warn({ err: error, workOrder: m.facts.number }, 'could not record the work order as notified');
          });
        }
      }
      this.options.logger.info({ channel: head.channel, person: head.person, delivery: deliveryId, event, workOrders: members.map((m) => m.facts.number), ms: durationMs }, 'notification delivered');
      return true;
    }
    for (const m of members) {
      const attempts = m.delivery.attempts + 1;
      const retry = result.retryable && attempts < this.settings.retry.attempts;
      if (retry) {
        const wait = Math.max(result.retryAfterMs ?? 0, backoff(attempts, this.settings.retry.first, this.settings.retry.max, this.random));
        this.counts.retried += 1;
        await this.settle(m.delivery, { status: 'pending', dueAt: at + wait, lastError: result.error, attempt: { outcome: 'retry', at, ...(result.status !== undefined && { status: result.status }), error: result.error, durationMs }, counted: true });
      } else {
        this.counts.failed += 1;
        await this.settle(m.delivery, { status: 'failed', lastError: result.error, attempt: { outcome: 'failed', at, ...(result.status !== undefined && { status: result.status }), error: result.error, durationMs }, counted: true });
        await this.fallBack(m.delivery, m.facts);
      }
    }
    this.options.logger.warn({ channel: head.channel, person: head.person, delivery: deliveryId, error: result.error, retryable: result.retryable }, 'notification not delivered');
    return false;
  }

  /** After a permanent failure: the same notification on the person's next channel. */
  private async fallBack(failed: Delivery, facts: WorkOrderFacts): Promise<void> {
    const person = this.settings.people[failed.person];
    if (!person) return;
    const { items } = await this.options.store.list({ workOrderId: facts.id, person: failed.person }, { limit: 500, offset: 0 });
    const tried = new Set(items.filter((d) => d.noticeId === failed.noticeId && d.level === failed.level).map((d) => d.channel));
    tried.add(failed.channel);
    const next = nextChannel(person, tried, this.settings.channels, (c) => this.canReach(c, this.recipient(failed.person, c)!));
    if (next === undefined) {
      this.options.logger.error({ person: failed.person, workOrder: facts.number, channel: failed.channel }, 'notification failed on every channel of the person');
      return;
    }
    const added = await this.options.store.addDeliveries([
      { ...pickNew(failed), deliveryId: deliveryIdOf({ workOrderId: facts.id, ...(failed.noticeId !== undefined && { noticeId: failed.noticeId }), level: failed.level, person: failed.person, channel: next, event: failed.event }), channel: next, dueAt: this.now() },
    ]);
    if (added > 0) this.options.logger.warn({ person: failed.person, workOrder: facts.number, from: failed.channel, to: next }, 'notification failed for good on a channel; trying the person’s next channel');
  }

  private async settle(delivery: Delivery, outcome: DeliveryOutcome): Promise<void> {
    const kept = await this.options.store.settle(delivery.id, outcome);
    if (!kept) this.options.logger.warn({ delivery: delivery.deliveryId }, 'delivery claim ran out before it was settled; another engine takes it over');
  }

  // ── overrides through the API ──────────────────────────────────────────────────────────────

  async overrides(): Promise<StoredOverride[]> {
    return this.options.store.overrides();
  }
}

function pickNew(d: Delivery): NewDelivery {
  return {
    deliveryId: d.deliveryId,
    ...(d.workOrderId !== undefined && { workOrderId: d.workOrderId }),
    ...(d.noticeId !== undefined && { noticeId: d.noticeId }),
    event: d.event,
    level: d.level,
    person: d.person,
    channel: d.channel,
    dueAt: d.dueAt,
    digest: d.digest,
    responsible: d.responsible,
  };
}

/** A stored override in the roster's shape. */
export function storedToOverride(o: StoredOverride): Override {
  return {
    id: o.id,
    rotation: o.rotation,
    kind: o.kind,
    from: new Date(o.from).toISOString(),
    until: new Date(o.until).toISOString(),
    ...(o.replaces !== undefined && { replaces: o.replaces }),
    replacement: o.replacement,
    createdAt: new Date(o.createdAt).toISOString(),
    ...(o.reason !== undefined && { reason: o.reason }),
  };
}
