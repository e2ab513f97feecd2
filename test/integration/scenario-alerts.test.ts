import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/engine/guardian.js';
import { silentLogger } from '../../src/log.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';

const TOKEN = 'test-admin-token-0123456789';
// One MR whose helium compressor stops three days into a seven-day backfill, and a healthy one.
const FLEET = `
sites:
  - { id: h1, name: 测试医院, nameEn: Test Hospital }
devices:
  - id: MR-STOP
    site: h1
    modality: MR
    vendor: Siemens
    model: Avanto
    name: 磁共振2号
    location: { department: 放射科, floor: "1", room: "105" }
    simulation: { scenario: mr-compressor-stop, onset: 3d }
  - id: MR-OK
    site: h1
    modality: MR
    vendor: Siemens
    model: Avanto
    simulation: { scenario: healthy }
`;

interface AlertItem {
  deviceId: string;
  ruleId: string;
  state: string;
  grade?: string;
  gradeLabel?: { zh: string; en: string };
  message: { zh: string; en: string };
  location?: { department?: string };
  forecast?: { crossingAt: string; earliest: string; latest?: string; slopePerDay: number };
}

describe('a fault scenario published through the broker raises its alerts, forecast included, in /api/alerts', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  const alerts = async (query: string): Promise<AlertItem[]> => {
    const response = await fetch(`${guardian.httpUrl}/api/alerts?${query}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    return ((await response.json()) as { items: AlertItem[] }).items;
  };

  beforeAll(async () => {
    writeFileSync(join(dir.path, 'fleet.yaml'), FLEET);
    guardian = await startGuardian({
      config: testConfig(dir.path, {
        fleetFile: join(dir.path, 'fleet.yaml'),
        simulate: { enabled: true, backfill: '7d', backfillTick: '5m', interval: '5s', seed: 11 },
      }),
      explicit: new Set(['mqtt.port']),
      logger: silentLogger(),
    });
  }, 60_000);

  afterAll(async () => {
    await guardian?.stop();
    dir.remove();
  });

  it('warns of the helium crossing with a forecast and raises the compressor fault; the healthy scanner raises nothing', async () => {
    const firing = await waitFor(
      async () => {
        const items = await alerts('device=MR-STOP&state=firing');
        return items.some((a) => a.ruleId === 'helium-level-forecast') && items.some((a) => a.ruleId === 'compressor-off') ? items : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'helium forecast and compressor alerts' },
    );
    const forecast = firing.find((a) => a.ruleId === 'helium-level-forecast')!;
    expect(forecast.forecast).toBeDefined();
    const crossing = Date.parse(forecast.forecast!.crossingAt);
    expect(crossing).toBeGreaterThan(Date.now());
    expect(Date.parse(forecast.forecast!.earliest)).toBeLessThanOrEqual(crossing);
    expect(forecast.forecast!.slopePerDay).toBeLessThan(-1);
    expect(forecast.gradeLabel?.zh).toMatch(/故障|事件/);
    expect(forecast.message.zh).toContain('磁共振2号');
    expect(forecast.message.zh).toMatch(/\d+(\.\d)? (天|小时)/);
    expect(forecast.location?.department).toBe('放射科');

    const compressor = firing.find((a) => a.ruleId === 'compressor-off')!;
    expect(compressor.grade).toBe('severe');

    expect(await alerts('device=MR-OK')).toEqual([]);
  }, 120_000);
});
