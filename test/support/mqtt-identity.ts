import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningGuardian } from '../../src/app/guardian.js';
import { ENGINE_USERNAME } from '../../src/broker/secrets.js';

/**
 * MQTT identities on an engine's embedded broker for tests: every connection there authenticates.
 */

/** A device's own credential, issued now (the previous one, if any, stops working). */
export async function deviceLogin(guardian: Pick<RunningGuardian, 'deviceCredentials'>, deviceId: string): Promise<{ username: string; password: string }> {
  const issued = await guardian.deviceCredentials.issue(deviceId, 'test');
  return { username: issued.username, password: issued.password };
}

/**
 * The engine's own identity (generated in the data directory): it may publish on any topic, which
 * is what a test of the ingest path's validation needs to send what no device may.
 */
export function engineLogin(guardian: Pick<RunningGuardian, 'dataDir'>): { username: string; password: string } {
  return { username: ENGINE_USERNAME, password: readFileSync(join(guardian.dataDir, 'mqtt-engine-secret'), 'utf8').trim() };
}

/** The enrolment secret of an engine with auto-registration on (generated in the data directory). */
export function enrolmentSecret(guardian: Pick<RunningGuardian, 'dataDir'>): string {
  return readFileSync(join(guardian.dataDir, 'mqtt-enrolment-secret'), 'utf8').trim();
}

/**
 * Publishes messages as `deviceId` would: connected with its own credential (issued now), each
 * with QoS 1, then disconnects.
 */
export async function publishAsDevice(
  guardian: Pick<RunningGuardian, 'deviceCredentials' | 'mqttUrl'>,
  deviceId: string,
  messages: ReadonlyArray<readonly [topic: string, payload: string | Buffer]>,
): Promise<void> {
  const { default: mqtt } = await import('mqtt');
  const client = await mqtt.connectAsync(guardian.mqttUrl, { clientId: `test-${deviceId}-${Math.random().toString(36).slice(2)}`, ...(await deviceLogin(guardian, deviceId)) });
  try {
    for (const [topic, payload] of messages) await client.publishAsync(topic, payload, { qos: 1 });
  } finally {
    await client.endAsync();
  }
}
