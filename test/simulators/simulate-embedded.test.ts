import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { simulatedDevices } from '../../src/cli/simulate.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';

/**
 * `guardian simulate` in its own process against an engine's embedded broker, which refuses
 * anonymous clients: with the engine's configuration it finds each scanner an identity.
 */
describe('guardian simulate against the embedded broker', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  let simulate: GuardianProcess | undefined;
  const [first, second] = simulatedDevices({ devices: '2' }).map((d) => d.id);

  beforeAll(async () => {
    guardian = await startGuardian({ config: testConfig(dir.path, { autoRegister: true }), explicit: new Set(['mqtt.port']), logger: silentLogger() });
  });

  afterAll(async () => {
    simulate?.child.kill('SIGINT');
    await simulate?.exited;
    await guardian?.stop();
    dir.remove();
  });

  it('enrols a new scanner, re-issues one the demo had a credential for, and every reading is stored', async () => {
    // As if an earlier demo run had given the first scanner a credential this process does not know.
    await guardian.deviceCredentials.issue(first!, 'demo');
    simulate = GuardianProcess.spawn(['simulate', '--devices', '2', '--backfill', '10m', '--interval', '1s'], {
      GUARDIAN_DATA_DIR: dir.path,
      GUARDIAN_MQTT_PORT: String(new URL(guardian.mqttUrl).port),
    });
    await waitFor(async () => (await guardian.telemetry.latest(first!)).length > 0 && (await guardian.telemetry.latest(second!)).length > 0, {
      timeoutMs: 30_000,
      what: `readings of ${first} and ${second}: ${simulate.output()}`,
    });
    expect(guardian.registry.get(second!)?.source).toBe('auto');
    expect((await guardian.deviceCredentials.get(first!))?.createdBy).toBe('simulate');
    expect(simulate.output()).not.toMatch(/Not authorized|Bad username/i);
  });
});
