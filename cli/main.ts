/**
 * `offboard`: the operator CLI. Start departures (one, or a CSV for a mass layoff), read their status,
 * list them, re-drive red steps, record returned assets, sign the verification report off (resolve and
 * acknowledge), reset a failed offboarding, replay workflow histories against today's code, audit an
 * employee's live access, find applications the catalog does not cover, verify the audit trail's hash
 * chain, and mint operator tokens. See docs/cli.md.
 */
import { Command, CommanderError } from 'commander';
import { accountCommand, approveCommand } from './commands/accounts';
import { auditCommand } from './commands/audit';
import { auditKeyCommand } from './commands/audit-key';
import { listCommand } from './commands/list';
import { retryCommand } from './commands/retry';
import { replayCommand } from './commands/replay';
import { shadowItCommand } from './commands/shadow-it';
import { startCommand } from './commands/start';
import { statusCommand } from './commands/status';
import { archiveConfirmedCommand, assetReceivedCommand, redriveCommand } from './commands/redrive';
import { acknowledgeCommand, resolveCommand } from './commands/signoff';
import { tokenCommand } from './commands/token';
import { verifyAuditCommand } from './commands/verify-audit';
import { CliError, EXIT, EXIT_CODES_HELP } from './lib/exit';

export function buildProgram(): Command {
  const program = new Command('offboard')
    .description(
      'Offboard operator CLI. start/status/list/redrive/approve/account/asset-received/resolve/acknowledge ' +
        'go through ' +
        'the API (OFFBOARD_URL, OFFBOARD_TOKEN); ' +
        'retry and replay talk to Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE; replay also reads ' +
        'history files); audit asks the target systems ' +
        '(CATALOG_FILE and the connector secrets); shadow-it reads a file and the catalog; ' +
        'verify-audit reads the database (DATABASE_URL) and the audit exports; token and audit-key mint an ' +
        'operator token and the audit export key pair (talk to nothing).',
    )
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
${EXIT_CODES_HELP}`,
    );
  for (const c of [
    startCommand(),
    statusCommand(),
    redriveCommand(),
    approveCommand(),
    accountCommand(),
    assetReceivedCommand(),
    archiveConfirmedCommand(),
    resolveCommand(),
    acknowledgeCommand(),
    listCommand(),
    retryCommand(),
    replayCommand(),
    auditCommand(),
    shadowItCommand(),
    verifyAuditCommand(),
    auditKeyCommand(),
    tokenCommand(),
  ])
    program.addCommand(c);
  // Every command (and the program) reports usage errors through one place, with our exit code.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.showHelpAfterError('(add --help for usage)');
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

/** Runs the CLI with `argv` (user arguments only) and returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; commander has already printed its message for the rest.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof CliError) {
      process.stderr.write(`offboard: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(
      `offboard: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    return EXIT.internal;
  }
}

if (require.main === module) {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  void run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // The Temporal and HTTP clients may hold handles open; the command is done.
    setImmediate(() => process.exit(code));
  });
}
