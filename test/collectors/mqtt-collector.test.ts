import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BrokerRefusedError, reconnectDelay, redact, refusalOf, refusedSubscriptions, subscriptionsFor } from '../../collectors/mqtt-collector.js';

/** An error as Node's TLS or mqtt.js reports it: a message and a code. */
const errorWith = (code: string | number, message = 'x') => Object.assign(new Error(message), { code });

describe('refusalOf: which connection errors retrying cannot fix', () => {
  it('takes wrong credentials and a refused client id from MQTT 3.1.1 and 5 CONNACK codes', () => {
    expect(refusalOf(errorWith(4))).toBe('credentials');
    expect(refusalOf(errorWith(5))).toBe('credentials');
    expect(refusalOf(errorWith(134))).toBe('credentials');
    expect(refusalOf(errorWith(135))).toBe('credentials');
    expect(refusalOf(errorWith(138))).toBe('credentials');
    expect(refusalOf(errorWith(2))).toBe('client_id');
    expect(refusalOf(errorWith(133))).toBe('client_id');
  });

  it('leaves CONNACK codes of a busy or unavailable broker to the retries', () => {
    // 3: server unavailable; 136: server unavailable; 137: server busy; 151: quota exceeded.
    for (const code of [3, 136, 137, 151]) expect(refusalOf(errorWith(code))).toBeUndefined();
  });

  it("takes a broker certificate that does not verify as a certificate problem", () => {
    for (const code of ['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      expect(refusalOf(errorWith(code)), code).toBe('certificate');
    }
  });

  it("takes the broker's TLS alerts about our certificate apart from other handshake failures", () => {
    for (const code of ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED']) {
      expect(refusalOf(errorWith(code)), code).toBe('client_certificate');
    }
    expect(refusalOf(errorWith('ERR_SSL_WRONG_VERSION_NUMBER'))).toBe('tls');
    expect(refusalOf(errorWith('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE'))).toBe('tls');
  });

  it('leaves network failures to the retries', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE']) expect(refusalOf(errorWith(code)), code).toBeUndefined();
    expect(refusalOf(new Error('connack timeout'))).toBeUndefined();
    expect(refusalOf(undefined)).toBeUndefined();
  });
});

describe('BrokerRefusedError', () => {
  it('states the broker without its password, the reason and the code', () => {
    const error = new BrokerRefusedError('certificate', 'mqtts://user:secret@broker:8883', errorWith('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'));
    expect(error.message).toBe('MQTT broker mqtts://user:***@broker:8883 refused the connection: self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)');
    expect(error.refusal).toBe('certificate');
  });

  it('says it was the subscription the broker refused', () => {
    const error = new BrokerRefusedError('subscription', 'mqtt://broker:1883', new Error('guardian/# (reason code 135)'));
    expect(error.message).toBe('MQTT broker mqtt://broker:1883 refused the subscription: guardian/# (reason code 135)');
  });

  it('cuts an OpenSSL error string down to its reason', () => {
    const openssl = '80DC681FBE7F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116';
    const error = new BrokerRefusedError('client_certificate', 'mqtts://broker:8883', errorWith('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', openssl));
    expect(error.message).toBe('MQTT broker mqtts://broker:8883 refused the connection: tlsv13 alert certificate required (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)');
  });
});

describe('refusedSubscriptions', () => {
  const topics = ['$share/collectors/guardian/#', 'guardian/+/+/status'];

  it('names each topic the broker refused, with its reason code', () => {
    expect(refusedSubscriptions(topics, [{ qos: 1 }, { qos: 0x80 }], null)).toEqual(['guardian/+/+/status (reason code 128)']);
    expect(refusedSubscriptions(topics, [{ qos: 1 }, { qos: 0 }], null)).toEqual([]);
  });

  it('reads the SUBACK mqtt.js attaches to its error on MQTT 5', () => {
    const error = Object.assign(new Error('Subscribe error: Not authorized'), { packet: { cmd: 'suback', granted: [135, 1] } });
    expect(refusedSubscriptions(topics, undefined, error)).toEqual(['$share/collectors/guardian/# (reason code 135)']);
    expect(refusedSubscriptions(topics, [], error)).toEqual(['$share/collectors/guardian/# (reason code 135)']);
  });

  it('finds nothing in an error that carries no SUBACK', () => {
    expect(refusedSubscriptions(topics, undefined, new Error('client disconnecting'))).toEqual([]);
  });
});

describe('reconnectDelay', () => {
  it('doubles from the first wait up to the longest, within ±25 % jitter', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 300_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, minMs, extra, random) => {
        const maxMs = minMs + extra;
        const base = Math.min(maxMs, minMs * 2 ** attempt);
        const delay = reconnectDelay(attempt, minMs, maxMs, () => random);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.75));
        expect(delay).toBeLessThanOrEqual(Math.ceil(base * 1.25));
      }),
    );
  });

  it('spreads a fleet that lost the broker at the same moment', () => {
    expect(reconnectDelay(3, 1_000, 30_000, () => 0)).toBe(6_000);
    expect(reconnectDelay(3, 1_000, 30_000, () => 0.5)).toBe(8_000);
    expect(reconnectDelay(3, 1_000, 30_000, () => 0.999)).toBe(9_996);
    expect(reconnectDelay(20, 1_000, 30_000, () => 0.5)).toBe(30_000);
  });
});

describe('subscriptionsFor', () => {
  it('subscribes to everything under the prefix, or shares it in a group and still reads status itself', () => {
    expect(subscriptionsFor('guardian')).toEqual(['guardian/#']);
    expect(subscriptionsFor('guardian', 'collectors')).toEqual(['$share/collectors/guardian/#', 'guardian/+/+/status']);
  });
});

describe('redact', () => {
  it('hides the password of a broker URL and leaves anything else alone', () => {
    expect(redact('mqtt://guardian:hunter2@broker:1883')).toBe('mqtt://guardian:***@broker:1883');
    expect(redact('mqtts://broker:8883')).toBe('mqtts://broker:8883');
    expect(redact('not a url')).toBe('not a url');
  });
});
