/**
 * `offboard list`: departures with filters (running, failed, red steps, awaiting sign-off, department,
 * dates).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEPARTURE_STATUSES } from '../../contract';
import { createApi, withApi, type DepartureRow } from '../lib/api';
import { apiOptions, intIn, jsonOption } from '../lib/common';
import { CliError, EXIT } from '../lib/exit';
import { printJson, println, table } from '../lib/output';

interface ListOptions {
  status?: string;
  awaitingSignoff?: boolean;
  running?: boolean;
  failed?: boolean;
  red?: boolean;
  department?: string;
  employee?: string;
  since?: string;
  until?: string;
  limit: number;
  json?: boolean;
  url?: string;
  token?: string;
}

function dateArg(value: string): string {
  const ok =
    /^\d{4}-\d{2}-\d{2}$/.test(value) ||
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value);
  if (!ok || Number.isNaN(Date.parse(value)))
    throw new InvalidArgumentError('must be a date (YYYY-MM-DD) or an ISO instant with a zone');
  return value;
}

export function listCommand(): Command {
  const cmd = new Command('list')
    .summary('departures, newest first, with filters')
    .description(
      'List departures, newest first. --running and --failed ask Temporal for the state of each ' +
        "departure's workflow (failed = failed, terminated or timed out, and not reset since); --status " +
        'filters on the departure record (accepted, started, running, scoped, awaiting_signoff, ' +
        'completed, rescinded, blocked); --awaiting-signoff is --status awaiting_signoff (the ' +
        'verification report waits for HR/IT acknowledgment or resolutions). Dates filter on when the ' +
        'departure was accepted. Any operator role.',
    )
    .addOption(new Option('--status <status>', 'departure status').choices(DEPARTURE_STATUSES))
    .option('--awaiting-signoff', 'only departures waiting for the verification sign-off')
    .option('--running', 'only departures whose workflow is running')
    .option('--failed', 'only departures whose workflow ended without completing')
    .option(
      '--red',
      'only departures with red steps or unresolved red report items (e.g. an account still active)',
    )
    .option('--department <name>', 'only this department')
    .option('--employee <id>', "only this employee's departures")
    .option('--since <date>', 'accepted at or after (YYYY-MM-DD or ISO instant)', dateArg)
    .option('--until <date>', 'accepted at or before (a bare date includes that whole day, UTC)', dateArg)
    .option('--limit <n>', 'at most this many', intIn(1, 500), 100);
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 listed (also when empty); 3 refused; 64 usage; 69 API unreachable.',
  );
  cmd.action(async (opts: ListOptions) => {
    if (opts.running && opts.failed)
      throw new CliError(EXIT.usage, '--running and --failed exclude each other');
    if (opts.awaitingSignoff && opts.status && opts.status !== 'awaiting_signoff')
      throw new CliError(EXIT.usage, '--awaiting-signoff and --status exclude each other');
    if (opts.since && opts.until) {
      const endOf = (d: string) => Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(d) ? `${d}T23:59:59.999Z` : d);
      if (Date.parse(opts.since) > endOf(opts.until))
        throw new CliError(EXIT.usage, `--since (${opts.since}) is after --until (${opts.until})`);
    }
    const q = new URLSearchParams();
    if (opts.awaitingSignoff) q.set('status', 'awaiting_signoff');
    else if (opts.status) q.set('status', opts.status);
    if (opts.running) q.set('workflow', 'running');
    if (opts.failed) q.set('workflow', 'failed');
    if (opts.red) q.set('red', 'true');
    if (opts.department) q.set('department', opts.department);
    if (opts.employee) q.set('employeeId', opts.employee);
    if (opts.since) q.set('from', opts.since);
    if (opts.until) q.set('to', opts.until);
    q.set('limit', String(opts.limit));
    const api = createApi(opts);
    const { departures } = await withApi(() => api.get<{ departures: DepartureRow[] }>(`/departures?${q}`));
    if (opts.json) printJson(departures);
    else if (departures.length === 0) println('no departures match');
    else
      println(
        table(
          ['DEPARTURE', 'EMPLOYEE', 'NAME', 'DEPARTMENT', 'STATUS', 'RED', 'ACCEPTED'],
          departures.map((d) => [
            d.id,
            d.employeeId,
            d.employeeName,
            d.department,
            d.status,
            // Red steps, plus red report items nobody has resolved when there are any.
            d.redItems ? `${d.redSteps}+${d.redItems}` : String(d.redSteps),
            d.createdAt,
          ]),
          48,
        ),
      );
  });
  return cmd;
}
