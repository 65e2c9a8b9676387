/** `offboard status <employee|workflow|departure>`: one departure and its step table. */
import { Command } from 'commander';
import { createApi, resolveDeparture, withApi, type DepartureDetail } from '../lib/api';
import { apiOptions, jsonOption } from '../lib/common';
import { EXIT } from '../lib/exit';
import { colourWord, printJson, println, table } from '../lib/output';

/** Execution statuses of a workflow that ended without completing. */
export const ENDED_BADLY = ['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED'];

export function statusCommand(): Command {
  const cmd = new Command('status')
    .summary("one departure's step table")
    .description(
      'Show one departure and its step table (step, colour, attempts, executing system, last error). ' +
        'REF is a departure id (dep_…), a workflow id (offboarding:<employeeId>) or an employee id ' +
        '(their newest departure). Any operator role.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id');
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 no red step and the workflow has not failed; 1 red steps or a failed, terminated\n' +
      'or timed-out workflow (see `offboard retry`); 3 not found or not allowed; 69 API unreachable.',
  );
  cmd.action(async (ref: string, opts: { url?: string; token?: string; json?: boolean }) => {
    const api = createApi(opts);
    const v = await withApi(() => resolveDeparture(api, ref));
    if (opts.json) printJson(v);
    else println(render(v));
    const red = v.steps.filter((s) => s.status === 'red').length;
    process.exitCode = red > 0 || ENDED_BADLY.includes(v.workflow.status ?? '') ? EXIT.finding : EXIT.ok;
  });
  return cmd;
}

function render(v: DepartureDetail): string {
  const d = v.departure;
  const red = v.steps.filter((s) => s.status === 'red').length;
  const wf = v.workflow.status ?? (v.workflow.reachable ? 'unknown' : 'not reachable');
  const head = [
    `Departure   ${d.id}  (${d.status})`,
    `Employee    ${d.employeeId}  ${d.employeeName}, ${d.department}`,
    `Termination ${d.terminationType}${d.lastDay ? `, last day ${d.lastDay}` : ''}` +
      (d.revokeRestAt ? `, rest revoked at ${d.revokeRestAt}` : '') +
      (d.rescindedAt ? `, rescinded ${d.rescindedAt}` : ''),
    `Workflow    ${d.workflowId}  ${ENDED_BADLY.includes(wf) ? colourWord(wf, 'red') : wf}` +
      (v.workflow.phase ? `, phase ${v.workflow.phase}` : '') +
      (d.lastStartError ? `  (start error: ${d.lastStartError})` : ''),
    `Steps       ${v.steps.length}, ${red} red (from the ${v.source})`,
  ];
  if (v.steps.length === 0) return `${head.join('\n')}\n\n(no steps planned yet)`;
  const rows = v.steps.map((s) => [
    s.stepId,
    colourWord(s.status),
    String(s.attempts),
    s.executingSystem,
    s.lastError ?? (s.scheduledFor ? `scheduled for ${s.scheduledFor}` : ''),
  ]);
  return `${head.join('\n')}\n\n${table(['STEP', 'STATUS', 'ATTEMPTS', 'EXECUTING SYSTEM', 'LAST ERROR'], rows)}`;
}
