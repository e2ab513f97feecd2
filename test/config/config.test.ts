import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/kernel/errors.js';
import { formatDuration, parseDuration } from '../../src/kernel/time/duration.js';

const dir = mkdtempSync(join(tmpdir(), 'guardian-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('configuration', () => {
  it('has working defaults', () => {
    const { config } = loadConfig({ env: {}, file: file('empty.yaml', '') });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 8080, tokenCache: 2_000, authFailureLimit: 10, authFailureWindow: 60_000, trustProxy: false });
    expect(config.dataDir).toBe('./data');
    expect(config.mqtt.url).toBeUndefined();
    expect(config.simulate.backfill).toBe(14 * 86_400_000);
  });

  it('lets the environment override the file', () => {
    const path = file('a.yaml', 'http:\n  port: 9000\ndataDir: /tmp/x\n');
    const { config, explicit } = loadConfig({ file: path, env: { GUARDIAN_HTTP_PORT: '9100', GUARDIAN_MQTT_PORT: '1884', GUARDIAN_SIMULATE: 'off' } });
    expect(config.http.port).toBe(9100);
    expect(config.dataDir).toBe('/tmp/x');
    expect(config.mqtt.port).toBe(1884);
    expect(config.simulate.enabled).toBe(false);
    expect(explicit.has('mqtt.port')).toBe(true);
  });

  it('stops on a bad setting and names it', () => {
    expect(() => loadConfig({ env: { GUARDIAN_HTTP_PORT: 'eighty' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { GUARDIAN_HTTP_PORT: 'eighty' } })).toThrow(/http\.port \(GUARDIAN_HTTP_PORT\)/);
    expect(() => loadConfig({ env: { GUARDIAN_MQTT_URL: 'http://broker' } })).toThrow(/mqtt\.url \(GUARDIAN_MQTT_URL\): must start with mqtt:\/\//);
    expect(() => loadConfig({ env: {}, file: file('b.yaml', 'retention:\n  raw: forever\n') })).toThrow(/retention\.raw: "forever" is not a duration/);
    expect(() => loadConfig({ env: {}, file: file('c.yaml', 'htpp:\n  port: 1\n') })).toThrow(/unknown setting\(s\) htpp/);
    expect(() => loadConfig({ env: {}, file: file('d.yaml', 'a: [b\n') })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ env: {}, file: join(dir, 'missing.yaml') })).toThrow(/does not exist/);
  });

  it('keeps the token cache within 5 s, so a revocation reaches every engine', () => {
    expect(loadConfig({ env: { GUARDIAN_HTTP_TOKEN_CACHE: '5s' } }).config.http.tokenCache).toBe(5_000);
    expect(loadConfig({ env: { GUARDIAN_HTTP_TOKEN_CACHE: '0' } }).config.http.tokenCache).toBe(0);
    expect(() => loadConfig({ env: { GUARDIAN_HTTP_TOKEN_CACHE: '6s' } })).toThrow(/http\.tokenCache \(GUARDIAN_HTTP_TOKEN_CACHE\): must be at most 5s/);
  });
});

describe('durations', () => {
  it('round-trips', () => {
    expect(parseDuration('14d')).toBe(14 * 86_400_000);
    expect(parseDuration('-24h')).toBe(-86_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('5')).toBe(5);
    expect(parseDuration('1d12h')).toBe(36 * 3_600_000);
    expect(parseDuration('soon')).toBeUndefined();
    for (const text of ['1w', '3d', '2h', '5m', '30s', '250ms']) expect(formatDuration(parseDuration(text)!)).toBe(text);
  });
});
