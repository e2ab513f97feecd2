import { join } from 'node:path';
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
  process.stdout.write(`${bannerLines(g).join('\n')}\n`);
}

/**
 * What `guardian start` prints once running. A generated admin token is shown on the start that
 * created it only; later starts say where it is kept, so the token is not repeated into every
 * terminal scroll-back and service journal.
 */
export function bannerLines(g: Pick<RunningGuardian, 'mqttUrl' | 'embeddedBroker' | 'httpUrl' | 'adminToken' | 'adminTokenSource' | 'adminTokenGenerated' | 'dataDir' | 'simulating'>): string[] {
  const tokenFile = join(g.dataDir, 'admin-token');
  const adminLines = (url: string): string[] => {
    if (g.adminTokenSource === 'config') return ['  Admin token:  as configured (GUARDIAN_ADMIN_TOKEN)', `  Try / 试试:   curl -H "Authorization: Bearer $GUARDIAN_ADMIN_TOKEN" ${url}/api/devices`];
    if (g.adminTokenGenerated) {
      return [
        `  Admin token:  ${g.adminToken}`,
        `                created now and shown this once; kept in ${tokenFile} (owner-only) / 仅本次显示，保存在该文件中`,
        `  Try / 试试:   curl -H "Authorization: Bearer ${g.adminToken}" ${url}/api/devices`,
      ];
    }
    return [`  Admin token:  kept in ${tokenFile} (owner-only) / 保存在该文件中`, `  Try / 试试:   curl -H "Authorization: Bearer $(cat ${tokenFile})" ${url}/api/devices`];
  };
  return [
    '',
    '  Remote Guardian 远程守护 — running / 已启动',
    `  MQTT broker:  ${g.mqttUrl}${g.embeddedBroker ? '  (embedded / 内置)' : ''}`,
    ...(g.httpUrl ? [`  HTTP API:     ${g.httpUrl}    API docs / 接口文档: ${g.httpUrl}/docs`, ...adminLines(g.httpUrl)] : []),
    `  Data / 数据:  ${g.dataDir}`,
    g.simulating ? '  Simulated fleet is publishing, history first / 模拟设备正在发布数据（先补发历史数据）' : '  No simulated fleet / 未启用模拟设备',
    '  Ctrl-C stops cleanly / 按 Ctrl-C 安全停止',
    '',
  ];
}
