import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';

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
  readonly logger: Logger;
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
  const aedes = await Aedes.createBroker({ drainTimeout: 30_000, concurrency: 1000, queueLimit: 1000 });
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
  let listening = true;
  return {
    url,
    host: options.host,
    port,
    stopAccepting: async (keepClientId) => {
      if (!listening) return;
      listening = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // aedes keeps its connected clients by id; the typings do not expose the map.
      const clients = (aedes as unknown as { clients: Record<string, { close(cb?: () => void): void }> }).clients;
      await Promise.all(
        Object.entries(clients)
          .filter(([id]) => id !== keepClientId)
          .map(([, client]) => new Promise<void>((resolve) => client.close(() => resolve()))),
      );
      void closed;
    },
    close: async () => {
      const serverClosed = listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      listening = false;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await serverClosed;
    },
  };
}
