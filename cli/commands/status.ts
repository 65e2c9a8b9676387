/**
 * `offboard status <employee|workflow|departure>`: one departure, its step table, its equipment,
 * documents and data archives, and its verification checkpoint (report, HR/IT acknowledgments, red and yellow items with their resolutions, what is
 * outstanding).
 */
import { Command } from 'commander';
import type { MatchEvidence, VerificationView } from '../../contract';
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
      'Show one departure and its step table (step, colour, attempts, executing system, last error), ' +
        'its equipment, documents and data archives, then its verification checkpoint: whether the report is compiled (or when it is due), the HR ' +
        'and IT acknowledgments, the red and yellow report items with their resolutions, and what is ' +
        'still outstanding (`offboard resolve`, `offboard acknowledge`). --json prints the API view as ' +
        'is. REF is a departure id (dep_…), a workflow id (offboarding:<employeeId>) or an employee id ' +
        '(their newest departure). Any operator role.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id');
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 no red step, no unresolved red report item and the workflow has not failed; 1 red\n' +
      'steps, an unresolved red report item (e.g. an account the live audit found active) or a failed,\n' +
      'terminated or timed-out workflow (see `offboard retry`); 3 not found or not allowed; 69 API\n' +
      'unreachable.',
  );
  cmd.action(async (ref: string, opts: { url?: string; token?: string; json?: boolean }) => {
    const api = createApi(opts);
    const v = await withApi(() => resolveDeparture(api, ref));
    if (opts.json) printJson(v);
    else println(render(v));
    const red = v.steps.filter((s) => s.status === 'red').length;
    // A red report item nobody has resolved (e.g. an account the live audit found still active) is a
    // finding as much as a red step.
    const unresolved = new Set(v.verification?.unresolved ?? []);
    const redItems = (v.verification?.report?.items ?? []).filter(
      (i) => i.colour === 'red' && unresolved.has(i.itemId),
    ).length;
    process.exitCode =
      red > 0 || redItems > 0 || ENDED_BADLY.includes(v.workflow.status ?? '') ? EXIT.finding : EXIT.ok;
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
  if (d.status === 'awaiting_approval')
    head.push(
      `Approval    ${colourWord('waiting', 'yellow')} for a second operator: ${d.approvalReason ?? ''} ` +
        `(offboard approve ${d.id} --note …)`,
    );
  else if (d.approvedBy) head.push(`Approval    by ${d.approvedBy.replace(/^operator:/, '')}`);
  const verification =
    renderFollowUp(v) + (v.verification === undefined ? '' : `\n\n${renderVerification(v.verification)}`);
  if (v.steps.length === 0) return `${head.join('\n')}\n\n(no steps planned yet)${verification}`;
  const rows = v.steps.map((s) => [
    s.stepId,
    colourWord(s.status),
    String(s.attempts),
    s.executingSystem,
    accountCell(s.match),
    s.lastError ?? (s.scheduledFor && s.status === 'pending' ? `scheduled for ${s.scheduledFor}` : ''),
  ]);
  return (
    `${head.join('\n')}\n\n${table(['STEP', 'STATUS', 'ATTEMPTS', 'EXECUTING SYSTEM', 'ACCOUNT', 'LAST ERROR'], rows)}` +
    verification
  );
}

/** The ACCOUNT column: which account a step acted on and the key that found it, or why none. */
export function accountCell(m: MatchEvidence | null | undefined): string {
  if (!m) return '';
  switch (m.outcome) {
    case 'found':
      return `${m.account!.name} (by ${m.by ?? '?'})`;
    case 'not_found':
      return `none found (${m.keys.length} key${m.keys.length === 1 ? '' : 's'})`;
    case 'ambiguous':
      return `${m.candidates.length} candidates: nothing changed`;
    case 'protected':
      return `protected: ${m.account!.name}`;
  }
}

/** Equipment, documents and data archives, each a table when there is any (else nothing). */
function renderFollowUp(v: DepartureDetail): string {
  const parts: string[] = [];
  if (v.assets?.length)
    parts.push(
      table(
        ['ASSET', 'NAME', 'STATUS', 'DUE / RECEIVED', 'LAST ERROR'],
        v.assets.map((a) => [
          a.assetTag,
          a.assetName,
          a.status,
          a.receivedAt ? `received ${a.receivedAt}` : `due ${a.dueAt}`,
          a.lastError ?? '',
        ]),
      ),
    );
  if (v.documents?.length)
    parts.push(
      table(
        ['DOCUMENT', 'STATUS', 'UPDATED'],
        v.documents.map((d) => [d.type, d.status, d.updatedAt]),
      ),
    );
  if (v.archives?.length)
    parts.push(
      table(
        ['ARCHIVE', 'NAME', 'STATUS', 'ITEMS', 'ARCHIVED'],
        v.archives.map((a) => [
          a.sourceId,
          a.sourceName,
          a.status === 'pending' ? `${a.status} (offboard archive-confirmed)` : a.status,
          a.items === null ? '' : String(a.items),
          a.archivedAt ?? '',
        ]),
      ),
    );
  return parts.map((p) => `\n\n${p}`).join('');
}

/** The verification checkpoint: report, acknowledgments, red/yellow items and what is outstanding. */
export function renderVerification(ver: VerificationView | null): string {
  if (!ver) return 'Verification (none: not started yet, or the offboarding predates the checkpoint)';
  const report = ver.report
    ? `compiled ${ver.report.compiledAt} (${ver.report.reportId}), acknowledgments due ${ver.report.ackDueAt}` +
      (ver.reminders > 0 ? `, ${ver.reminders} reminder(s)` : '') +
      (ver.ackEscalated ? ', escalated to the department head' : '')
    : `not compiled yet, due ${ver.reportAt}`;
  const ack = (role: 'hr' | 'it') => {
    const a = ver.acknowledgments[role];
    return a
      ? `${role.toUpperCase()} acknowledged by ${a.by} at ${a.at}${a.note ? ` ("${a.note}")` : ''}`
      : `${role.toUpperCase()} not yet`;
  };
  const lines = [
    `Verification report ${report}`,
    `Sign-off    ${ack('hr')}; ${ack('it')}`,
    `Outstanding ${ver.done ? 'nothing: signed off, final live access audit clean' : ver.outstanding.join('; ') || 'nothing'}`,
  ];
  if (ver.redEscalated) lines.push('Escalation  unresolved red items went to the department head');
  const items = ver.report?.items ?? [];
  const latest = new Map(ver.resolutions.map((r) => [r.itemId, r]));
  const unresolved = new Set(ver.unresolved);
  // Red and yellow items (now or in the report), except those yellow in the report that are green now
  // and need nothing: they are counted, not listed.
  const shown = items.filter(
    (i) =>
      i.colour !== 'green' || i.reportColour === 'red' || latest.has(i.itemId) || unresolved.has(i.itemId),
  );
  const settled = items.filter((i) => i.reportColour === 'yellow' && !shown.includes(i)).length;
  const note = settled
    ? `\n${settled} item(s) yellow in the report are green now (no resolution needed)`
    : '';
  if (shown.length === 0)
    return `${lines.join('\n')}${ver.report ? `\n\n(no red or yellow item)${note}` : ''}`;
  const rows = shown.map((i) => {
    const r = latest.get(i.itemId);
    const state = unresolved.has(i.itemId)
      ? r
        ? `unresolved again (${r.how} by ${r.by} did not hold)`
        : 'unresolved'
      : r
        ? `${r.how} by ${r.by}: ${r.note}`
        : 'not needed';
    return [i.itemId, colourWord(i.reportColour), colourWord(i.colour), state, i.detail ?? ''];
  });
  return `${lines.join('\n')}\n\n${table(['ITEM', 'REPORT', 'NOW', 'RESOLUTION', 'DETAIL'], rows)}${note}`;
}
