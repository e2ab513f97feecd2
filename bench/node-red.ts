/**
 * The peer users pick for this job: Node-RED with `mqtt in` and the InfluxDB nodes of
 * node-red-contrib-influxdb. Installed by the benchmark into a temporary folder — it is not a
 * project dependency — and run as its own process with a flow that does what a user would wire:
 * parse JSON, one point per message tagged with the device, then either
 * - `batch`: `join` 1,000 messages (or 1 s) into one array → `influxdb batch`, one write per batch;
 * - `out`: `influxdb out`, one write per message (the node's plain use).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Node-RED 4.1 is the last line that runs on Node 20; 5.x needs Node 22. */
const NODE_RED = 'node-red@4.1';
const INFLUX_NODES = 'node-red-contrib-influxdb@0.7';

export interface NodeRedPeer {
  /** Node-RED's process id (the benchmark reads its CPU time). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** Installs Node-RED and the InfluxDB nodes into `dir` (once; later runs reuse it). */
export function installNodeRed(dir: string): void {
  if (existsSync(join(dir, 'node_modules', 'node-red', 'red.js')) && existsSync(join(dir, 'node_modules', 'node-red-contrib-influxdb'))) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'guardian-bench-node-red', private: true }));
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', NODE_RED, INFLUX_NODES], { cwd: dir, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm install ${NODE_RED} ${INFLUX_NODES} failed`);
}

export async function startNodeRed(options: {
  dir: string;
  mqttHost: string;
  mqttPort: number;
  topicPrefix: string;
  influxHost: string;
  influxPort: number;
  database: string;
  uiPort: number;
  writer: 'batch' | 'out';
}): Promise<NodeRedPeer> {
  const userDir = join(options.dir, `user-${options.database}`);
  mkdirSync(userDir, { recursive: true });
  const flows = [
    { id: 'f0', type: 'tab', label: 'bench' },
    {
      id: 'c1',
      type: 'mqtt-broker',
      broker: options.mqttHost,
      port: String(options.mqttPort),
      clientid: `node-red-bench-${options.database}`,
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
    },
    { id: 'c2', type: 'influxdb', hostname: options.influxHost, port: String(options.influxPort), protocol: 'http', database: options.database, influxdbVersion: '1.x', usetls: false },
    { id: 'n1', type: 'mqtt in', z: 'f0', topic: `${options.topicPrefix}/#`, qos: '1', datatype: 'json', broker: 'c1', nl: false, rap: true, inputs: 0, wires: [['n2']] },
    ...(options.writer === 'batch'
      ? [
          {
            id: 'n2',
            type: 'function',
            z: 'f0',
            func: "msg.payload = { measurement: 'telemetry', tags: { device: msg.topic.split('/')[2] }, fields: msg.payload.metrics, timestamp: new Date(msg.payload.ts) };\nreturn msg;",
            outputs: 1,
            wires: [['n3']],
          },
          { id: 'n3', type: 'join', z: 'f0', mode: 'custom', build: 'array', property: 'payload', propertyType: 'msg', count: '1000', timeout: '1', accumulate: false, wires: [['n4']] },
          { id: 'n4', type: 'influxdb batch', z: 'f0', influxdb: 'c2', precision: 'ms', retentionPolicy: '', wires: [] },
        ]
      : [
          {
            id: 'n2',
            type: 'function',
            z: 'f0',
            // `influxdb out` takes [fields, tags]; a `time` field is the point's timestamp.
            func: "msg.payload = [{ ...msg.payload.metrics, time: new Date(msg.payload.ts) }, { device: msg.topic.split('/')[2] }];\nreturn msg;",
            outputs: 1,
            wires: [['n4']],
          },
          { id: 'n4', type: 'influxdb out', z: 'f0', influxdb: 'c2', name: '', measurement: 'telemetry', precision: 'ms', retentionPolicy: '', wires: [] },
        ]),
  ];
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flows));
  writeFileSync(
    join(userDir, 'settings.js'),
    `module.exports = { uiPort: ${options.uiPort}, uiHost: '127.0.0.1', httpAdminRoot: false, httpNodeRoot: false, flowFile: 'flows.json', credentialSecret: false, logging: { console: { level: 'warn' } } };\n`,
  );
  const child: ChildProcess = spawn(process.execPath, [join(options.dir, 'node_modules', 'node-red', 'red.js'), '--settings', join(userDir, 'settings.js'), '--userDir', userDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // Give it time to load the flow and connect (Node-RED has no readiness signal without its admin API).
  await new Promise((r) => setTimeout(r, 8_000));
  if (child.exitCode !== null) throw new Error(`Node-RED exited with ${child.exitCode}`);
  return {
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
