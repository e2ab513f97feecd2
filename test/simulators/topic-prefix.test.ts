import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';

describe('the demo fleet under mqtt.topicPrefix', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;

  beforeAll(async () => {
    guardian = await startGuardian({
      config: testConfig(dir.path, { mqtt: { topicPrefix: 'hospital_a' }, simulate: { enabled: true, backfill: '20m', backfillTick: '1m', interval: '1s' } }),
      explicit: new Set(['mqtt.port']),
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    await guardian?.stop();
    dir.remove();
  });

  it('is published where the collector subscribes, so every simulated device is ingested and nothing is refused', async () => {
    expect(guardian.simulating).toBe(true);
    await guardian.simulator!.backfillDone;
    const ids = guardian.simulator!.devices.map((d) => d.device.id);
    expect(ids.length).toBeGreaterThan(1);
    for (const id of ids) {
      await waitFor(async () => (await guardian.telemetry.latest(id)).length > 0, { timeoutMs: 20_000, what: `samples of ${id}` });
    }
    const response = await fetch(`${guardian.httpUrl}/api/dead-letters`, { headers: { authorization: `Bearer ${guardian.adminToken}` } });
    expect(((await response.json()) as { total: number }).total).toBe(0);
  });
});
