import { describe, expect, it } from 'vitest';
import { isLoopbackUrl } from '../../src/storage/influx-http.js';

describe('gzip `auto`: is the InfluxDB on this host?', () => {
  it.each([
    ['http://localhost:8086', true],
    ['http://LOCALHOST:8086/', true],
    ['http://127.0.0.1:8086', true],
    ['http://127.10.0.3', true],
    ['http://[::1]:8086', true],
    ['http://influxdb:8086', false],
    ['https://10.0.0.5:8086', false],
    ['http://127.0.0.1.example.com', false],
    ['not a url', false],
  ])('%s → %s', (url, loopback) => {
    expect(isLoopbackUrl(url)).toBe(loopback);
  });
});
