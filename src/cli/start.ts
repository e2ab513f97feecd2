import { loadConfig } from '../config/load.js';
import { createLogger } from '../app/log.js';
import { startGuardian, type RunningGuardian } from '../app/guardian.js';

export interface StartOptions {
  readonly mode: 'start' | 'collect';
  readonly http?: boolean;
}

/** `guardian start` and `guardian collect`: run until SIGINT/SIGTERM, then stop cleanly. */
export async function runStart(configFile: string | undefined, options: StartOptions): Promise<void> {
  const loaded = loadConfig({
    ...(configFile && { file: configFile }),
    ...(options.mode === 'collect' && { overrides: { 'simulate.enabled': false } }),
  });
  const { level, pretty } = loaded.config.log;
  const logger = createLogger({ level, pretty: pretty ?? process.stdout.isTTY });
  if (loaded.file) logger.info({ file: loaded.file }, 'configuration read');

  // Signals are handled from the first moment: a Ctrl-C during start-up stops once started.
  const running: { guardian?: RunningGuardian } = {};
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn('second signal: exiting without waiting');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    if (!running.guardian) return;
    running.guardian
      .stop()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const guardian = await startGuardian({ config: loaded.config, explicit: loaded.explicit, logger, http: options.http !== false });
  running.guardian = guardian;
  printBanner(guardian);
  if (stopping) {
    stopping = false;
    stop('signal during start-up');
  }
}

function printBanner(g: RunningGuardian): void {
  const lines = [
    '',
    '  Remote Guardian 远程守护 — running / 已启动',
    `  MQTT broker:  ${g.mqttUrl}${g.embeddedBroker ? '  (embedded / 内置)' : ''}`,
    ...(g.httpUrl
      ? [
          `  HTTP API:     ${g.httpUrl}    API docs / 接口文档: ${g.httpUrl}/docs`,
          ...(g.adminTokenSource === 'config'
            ? ['  Admin token:  as configured (GUARDIAN_ADMIN_TOKEN)', `  Try / 试试:   curl -H "Authorization: Bearer $GUARDIAN_ADMIN_TOKEN" ${g.httpUrl}/api/devices`]
            : [
                `  Admin token:  ${g.adminToken}  (kept in ${g.dataDir}/admin-token)`,
                `  Try / 试试:   curl -H "Authorization: Bearer ${g.adminToken}" ${g.httpUrl}/api/devices`,
              ]),
        ]
      : []),
    `  Data / 数据:  ${g.dataDir}`,
    g.simulating ? '  Simulated fleet is publishing, history first / 模拟设备正在发布数据（先补发历史数据）' : '  No simulated fleet / 未启用模拟设备',
    '  Ctrl-C stops cleanly / 按 Ctrl-C 安全停止',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
