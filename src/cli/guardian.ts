#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError } from '../kernel/errors.js';
import { PortInUseError } from '../broker/embedded-broker.js';
import { DataDirInUseError } from '../app/data-dir-lock.js';
import { VERSION } from '../app/version.js';
import { runStart } from './start.js';
import { runMigrate } from './migrate.js';
import { runRulesCheck } from './rules.js';

/** Errors a person can fix from the message alone: printed without a stack trace. */
function isUserError(error: unknown): error is Error {
  return (
    error instanceof ConfigError ||
    error instanceof PortInUseError ||
    error instanceof DataDirInUseError ||
    (error instanceof Error && error.name === 'UsageError')
  );
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('guardian')
    .description('Remote Guardian (远程守护): telemetry and predictive alerts for CT and MR scanners')
    .version(VERSION)
    .addOption(new Option('-c, --config <file>', 'config file (default: guardian.config.yaml when present)'))
    .showHelpAfterError();

  program
    .command('start')
    .description('run everything in one process: broker (embedded unless GUARDIAN_MQTT_URL), collectors, stores, API, and the simulated fleet in the demo')
    .action(async () => runStart(program.opts<{ config?: string }>().config, { mode: 'start' }));

  program
    .command('collect')
    .description('ingest only: subscribe to the broker and store telemetry (no simulated fleet)')
    .option('--no-http', 'do not serve the HTTP API')
    .action(async (opts: { http: boolean }) => runStart(program.opts<{ config?: string }>().config, { mode: 'collect', http: opts.http }));

  program
    .command('simulate')
    .description('run a simulated CT/MR fleet against any MQTT broker')
    .option('--url <url>', 'broker URL (default: GUARDIAN_MQTT_URL or mqtt://127.0.0.1:1883)')
    .option('--fleet <file>', 'fleet file (YAML) of sites and devices with simulation blocks (default: the demo fleet)')
    .option('--devices <n>', 'number of devices (repeats the fleet with numbered ids)')
    .option('--scenario <name>', 'scenario for every device (see --list-scenarios)')
    .option('--onset <duration>', 'scenario onset relative to the start of the backfill, e.g. 10d')
    .option('--seed <n>', 'random seed; the same seed gives the same data', '42')
    .option('--backfill <duration>', 'history to publish first, as store-and-forward batches', '14d')
    .option('--backfill-tick <duration>', 'sample period of the backfilled history', '1m')
    .option('--interval <duration>', 'live sample period', '5s')
    .option('--state-file <file>', 'remember what was published, so a restart continues instead of re-sending the backfill')
    .option('--credentials <file>', "devices' MQTT passwords (JSON: {\"<device id>\": \"<password>\"}, as `guardian devices credentials --secrets-out` writes)")
    .option('--list-scenarios', 'print the scenario library and exit')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      // The simulated fleet is loaded only by the command that runs it.
      const { runSimulate } = await import('./simulate.js');
      await runSimulate(program.opts<{ config?: string }>().config, opts);
    });

  program
    .command('migrate')
    .description('bring the SQL database schema up to date (also done by start)')
    .action(async () => runMigrate(program.opts<{ config?: string }>().config));

  const devices = program.command('devices').description('scanners: their MQTT identities');
  devices
    .command('credentials')
    .description("issue or rotate devices' MQTT credentials and print the broker's entries (Mosquitto password file, JSON, EMQX users), export the password file, or revoke")
    .option('--device <id...>', 'device(s) to issue a credential for (replaces the one it had)')
    .option('--all', 'every registered device')
    .option('--revoke <id...>', 'device(s) whose credential to revoke')
    .option('--export', 'print the Mosquitto password file of every live credential (issues nothing)')
    .option('--format <format>', 'mosquitto (password-file lines; passwords to stderr or --secrets-out), json, emqx', 'mosquitto')
    .option('--secrets-out <file>', 'with --format mosquitto: write the passwords to this file (JSON, mode 0600) instead of stderr')
    .action(async (opts: { device?: string[]; all?: boolean; revoke?: string[]; export?: boolean; format?: string; secretsOut?: string }) => {
      const { runDeviceCredentials } = await import('./devices.js');
      await runDeviceCredentials(program.opts<{ config?: string }>().config, opts);
    });

  const notify = program.command('notify').description('pushes: try a channel, see who is on call');
  notify
    .command('test')
    .description('send a sample message (marked as a test) on one channel of notify.channels and print what the receiver answered; exit 0 delivered, 1 not')
    .option('--channel <id>', 'the channel id')
    .option('--to <person>', 'a person of notify.people (default: the first who uses the channel)')
    .option('--config <file>', 'config file (as for start)')
    .action(async (opts: { channel?: string; to?: string; config?: string }) => {
      const { runNotifyTest } = await import('./notify.js');
      process.exitCode = await runNotifyTest(opts.config ?? program.opts<{ config?: string }>().config, opts);
    });
  notify
    .command('oncall')
    .description('who is on call at a site per role, and the escalation chain of each grade (config rosters and the overrides made through the API)')
    .option('--site <id>', 'the site id')
    .option('--at <time>', 'ISO-8601 with a zone (default: now)')
    .option('--grade <grade>', 'one grade: emergency, severe, general or minor (default: every grade)')
    .option('--config <file>', 'config file (as for start)')
    .action(async (opts: { site?: string; at?: string; grade?: string; config?: string }) => {
      const { runNotifyOnCall } = await import('./notify.js');
      process.exitCode = await runNotifyOnCall(opts.config ?? program.opts<{ config?: string }>().config, opts);
    });

  const rules = program.command('rules').description('rule packs: what to watch and when to alert');
  rules
    .command('check')
    .description('validate rule pack files; prints file:line:col: path: message for each problem')
    .argument('<files...>', 'rule pack files (YAML)')
    .action(async (files: string[]) => {
      process.exitCode = await runRulesCheck(files);
    });

  await program.parseAsync(argv);
}

main(process.argv).catch((error: unknown) => {
  if (isUserError(error)) {
    console.error(`guardian: ${error.message}`);
    process.exit(2);
  }
  console.error('guardian: unexpected error:', error);
  process.exit(1);
});
