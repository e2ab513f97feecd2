/**
 * The work orders as the notify feature sees them (`WorkOrderDesk`): facts for messages, the
 * notify step the first delivery records, and acknowledging from a message link — over the
 * work-order service, the device directory and, for the live value and forecast, the engine.
 */
import { formatLocalMinute } from '../kernel/alerts.js';
import type { DeviceDirectory } from '../kernel/ports/device-directory.js';
import type { LocalisedText } from '../kernel/text.js';
import type { WorkOrderDesk, WorkOrderFacts } from '../notify/types.js';
import { WorkOrderError, type WorkOrderService } from '../workorders/service.js';
import type { WorkOrder } from '../workorders/types.js';

/** What the engine knows now of a work order's alert: its value with unit, its forecast. */
export type AlertFacts = (deviceId: string, ruleId: string) => { value?: string; forecast?: LocalisedText } | undefined;

export class NotifyWorkOrderDesk implements WorkOrderDesk {
  constructor(
    private readonly deps: {
      workOrders: WorkOrderService;
      registry: DeviceDirectory;
      alertFacts?: AlertFacts;
      now?: () => number;
    },
  ) {}

  private async load(id: number): Promise<WorkOrder | undefined> {
    try {
      return await this.deps.workOrders.get(String(id));
    } catch (error) {
      if (error instanceof WorkOrderError && error.status === 404) return undefined;
      throw error;
    }
  }

  async facts(workOrderId: number): Promise<WorkOrderFacts | undefined> {
    const wo = await this.load(workOrderId);
    if (!wo) return undefined;
    const site = this.deps.registry.getSite(wo.siteId);
    const timeZone = site?.timezone ?? 'Asia/Shanghai';
    const now = (this.deps.now ?? Date.now)();
    const deadlines = this.deps.workOrders
      .clocks(wo, now)
      .filter((c) => c.state === 'running' || (c.state === 'breached' && c.metAt === undefined))
      .map((c) => ({ name: c.name, label: c.label, dueAt: c.dueAt }));
    const live = wo.ruleId === undefined ? undefined : this.deps.alertFacts?.(wo.deviceId, wo.ruleId);
    const device = wo.device;
    const forecast =
      live?.forecast ??
      (wo.kind === 'planned' && wo.plannedDueAt !== undefined
        ? { zh: `预测约于 ${formatLocalMinute(timeZone, wo.plannedDueAt)} 越限`, en: `forecast to cross its limit around ${formatLocalMinute(timeZone, wo.plannedDueAt)}` }
        : undefined);
    return {
      id: wo.id,
      number: wo.number,
      status: wo.status,
      kind: wo.kind,
      grade: wo.grade,
      siteId: wo.siteId,
      siteName: site?.name ?? wo.siteId,
      timeZone,
      deviceId: wo.deviceId,
      deviceLabel: [device.modality, [device.vendor, device.model].filter(Boolean).join(' '), device.name].filter(Boolean).join(' · '),
      ...(device.location && { location: device.location }),
      title: wo.title,
      phenomenon: wo.phenomenon,
      ...(wo.ruleId !== undefined && { ruleId: wo.ruleId }),
      ...(live?.value !== undefined && { value: live.value }),
      ...(forecast && { forecast }),
      faultAt: wo.faultAt,
      reportedAt: wo.reportedAt,
      ...(wo.notifiedAt !== undefined && { notifiedAt: wo.notifiedAt }),
      ...(wo.acknowledgedAt !== undefined && { acknowledgedAt: wo.acknowledgedAt }),
      ...(wo.acknowledgedBy !== undefined && { acknowledgedBy: wo.acknowledgedBy }),
      ...(wo.resolvedAt !== undefined && { resolvedAt: wo.resolvedAt }),
      ...(wo.resolution !== undefined && { resolution: wo.resolution }),
      deadlines,
    };
  }

  async markNotified(workOrderId: number, _at: number, by: string, channel: string): Promise<void> {
    const wo = await this.load(workOrderId);
    if (!wo || wo.status !== 'new') return;
    try {
      await this.deps.workOrders.transition(String(workOrderId), { action: 'notify', note: `已推送（${channel}）/ pushed (${channel})`, channel }, by);
    } catch (error) {
      // Someone moved it on in the meantime (notified by another delivery, acknowledged): nothing to record.
      if (error instanceof WorkOrderError && error.status === 409) return;
      throw error;
    }
  }

  async acknowledge(workOrderId: number, person: string, personName: string, channel: string): Promise<'acknowledged' | 'already' | 'not_allowed' | 'not_found'> {
    const wo = await this.load(workOrderId);
    if (!wo) return 'not_found';
    if (wo.acknowledgedAt !== undefined) return 'already';
    if (wo.status !== 'new' && wo.status !== 'notified') return 'not_allowed';
    try {
      await this.deps.workOrders.transition(String(workOrderId), { action: 'acknowledge', note: `${personName} 通过消息中的链接确认 / acknowledged from the message link`, channel }, person);
      return 'acknowledged';
    } catch (error) {
      if (error instanceof WorkOrderError && error.status === 409) {
        const fresh = await this.load(workOrderId);
        return fresh?.acknowledgedAt !== undefined ? 'already' : 'not_allowed';
      }
      throw error;
    }
  }
}
