import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type Client } from 'aedes';
import type { Logger } from 'pino';
import { ID_PATTERN } from '../kernel/device.js';
import { BrokerAccess } from './access.js';

/** A port that is already taken; the message says what to do about it. */
export class PortInUseError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    what: string,
    hint: string,
  ) {
    super(`${what} cannot listen on ${host}:${port}: the port is already in use. ${hint}`);
    this.name = 'PortInUseError';
  }
}

export interface EmbeddedBroker {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** `mqtts://host:port` of the TLS listener, when one is configured. */
  readonly tlsUrl?: string;
  /** Closes the connections of a device (its credential was rotated or revoked); returns how many. */
  disconnectDevice(deviceId: string): number;
  /**
   * First step of a clean stop: refuses new connections and disconnects every client but
   * `keepClientId` (the collector), so nothing new is acknowledged while the collector takes
   * what the broker already accepted.
   */
  stopAccepting(keepClientId: string): Promise<void>;
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  readonly host: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /**
   * When the port was not chosen by the user and is taken (typically a Mosquitto on 1883), use
   * another free port instead of failing.
   */
  readonly fallbackWhenTaken: boolean;
  /** Who may connect, publish and subscribe: every connection is authenticated. */
  readonly access: BrokerAccess;
  /**
   * Every device credential as the database holds it now, read every `everyMs`: a scanner whose
   * credential another engine rotated or revoked is disconnected then (this engine's own changes
   * disconnect at once, through `disconnectDevice`).
   */
  readonly credentialSweep?: { readonly everyMs: number; read(): Promise<ReadonlyMap<string, { readonly createdAt: number; readonly revokedAt?: number }>> };
  /**
   * A TLS listener (mqtts) beside the plain one. With `clientCertificates`, a client may present a
   * certificate signed by `ca` whose common name is a device id, and connects as that device
   * without a password.
   */
  readonly tls?: {
    readonly port: number;
    readonly cert: Buffer;
    readonly key: Buffer;
    readonly ca?: Buffer;
    readonly clientCertificates: boolean;
  };
  readonly logger: Logger;
}

/** The device a verified client certificate names (its CN), if the connection has one. */
function certificateDevice(client: Client): string | undefined {
  const socket = client.conn as Partial<TLSSocket>;
  if (!socket.encrypted || !socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && ID_PATTERN.test(name) ? name : undefined;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * The in-process MQTT broker of the zero-setup default (aedes: MQTT 3.1.1, in-memory sessions).
 * Production points GUARDIAN_MQTT_URL at Mosquitto or EMQX instead.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const access = options.access;
  // aedes keeps its connected clients by id; the typings do not expose the map.
  const clientsById = () => (aedes as unknown as { clients: Record<string, Client | undefined> }).clients;
  const aedes = await Aedes.createBroker({
    drainTimeout: 30_000,
    concurrency: 1000,
    queueLimit: 1000,
    authenticate: (client, username, password, done) => {
      const device = certificateDevice(client);
      // A verified certificate naming a device is its identity; a password, if any, is checked as usual.
      access
        .authenticate(client, username, password, clientsById, device !== undefined ? BrokerAccess.device(device, 'certificate') : undefined)
        .then(
          () => done(null, true),
          (error: Error & { returnCode?: number }) => done(Object.assign(error, { returnCode: error.returnCode ?? 5 }) as Parameters<typeof done>[0], false),
        );
    },
    authorizePublish: (client, packet, done) => done(access.mayPublish(client, packet.topic) ? null : new Error('publish not authorized')),
    authorizeSubscribe: (client, subscription, done) => done(null, access.maySubscribe(client, subscription.topic) ? subscription : null),
  });
  aedes.on('clientError', (client, error) => options.logger.debug({ client: client.id, err: error }, 'MQTT client error'));
  const server = createServer(aedes.handle);
  let port: number;
  try {
    port = await listen(server, options.host, options.port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
      await new Promise<void>((r) => aedes.close(() => r()));
      throw error;
    }
    if (!options.fallbackWhenTaken) {
      await new Promise<void>((r) => aedes.close(() => r()));
      throw new PortInUseError(
        options.host,
        options.port,
        'The embedded MQTT broker',
        'Set GUARDIAN_MQTT_PORT to a free port, or GUARDIAN_MQTT_URL to use the broker that holds it (e.g. mqtt://127.0.0.1:1883).',
      );
    }
    port = await listen(server, options.host, 0);
    options.logger.warn({ taken: options.port, port }, `MQTT port ${options.port} is taken (another broker?); the embedded broker listens on ${port} instead — set GUARDIAN_MQTT_PORT to choose`);
  }
  const url = `mqtt://${options.host}:${port}`;
  let tlsServer: Server | undefined;
  let tlsUrl: string | undefined;
  if (options.tls) {
    const tls = options.tls;
    tlsServer = createTlsServer(
      {
        cert: tls.cert,
        key: tls.key,
        ...(tls.ca && { ca: tls.ca }),
        // Asked, not required: a device may still prove itself with its password.
        requestCert: tls.clientCertificates,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
      aedes.handle,
    );
    tlsServer.on('tlsClientError', (error) => options.logger.debug({ err: error }, 'MQTT TLS handshake failed'));
    try {
      const tlsPort = await listen(tlsServer, options.host, tls.port);
      tlsUrl = `mqtts://${options.host}:${tlsPort}`;
    } catch (error) {
      server.close();
      await new Promise<void>((r) => aedes.close(() => r()));
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new PortInUseError(options.host, tls.port, 'The embedded MQTT broker (TLS)', 'Set mqtt.tls.port (GUARDIAN_MQTT_TLS_PORT) to a free port.');
      }
      throw error;
    }
  }
  let sweep: NodeJS.Timeout | undefined;
  if (options.credentialSweep) {
    const { everyMs, read } = options.credentialSweep;
    let running = false;
    sweep = setInterval(() => {
      if (running) return;
      running = true;
      read()
        .then((credentials) => {
          const stale = access.outdated(Object.values(clientsById()).filter((c): c is Client => c !== undefined), credentials);
          for (const client of stale) client.close();
          if (stale.length > 0) options.logger.info({ clients: stale.map((c) => c.id) }, 'disconnected scanners whose credential was rotated or revoked elsewhere');
        })
        .catch((err: unknown) => options.logger.warn({ err }, 'could not read device credentials to check connected scanners'))
        .finally(() => (running = false));
    }, everyMs);
    sweep.unref();
  }
  let listening = true;
  return {
    url,
    host: options.host,
    port,
    ...(tlsUrl && { tlsUrl }),
    disconnectDevice: (deviceId) => {
      access.credentialChanged();
      const clients = access.clientsOf(deviceId, Object.values(clientsById()).filter((c): c is Client => c !== undefined));
      for (const client of clients) client.close();
      return clients.length;
    },
    stopAccepting: async (keepClientId) => {
      if (!listening) return;
      listening = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      tlsServer?.close();
      await Promise.all(
        Object.entries(clientsById())
          .filter(([id]) => id !== keepClientId)
          .map(([, client]) => new Promise<void>((resolve) => (client ? client.close(() => resolve()) : resolve()))),
      );
      void closed;
    },
    close: async () => {
      clearInterval(sweep);
      const serverClosed = listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      if (listening) tlsServer?.close();
      listening = false;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await serverClosed;
    },
  };
}
