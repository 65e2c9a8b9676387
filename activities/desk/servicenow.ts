/**
 * ServiceNow through the Table API (`<instance>/api/now/table/<table>`), Basic auth with an
 * integration user:
 *
 * - open: `POST …/{table}` `{short_description, description, correlation_id, correlation_display,
 *   due_date, assignment_group?}` → 201 `{result: {sys_id, number}}`; `correlation_id` holds
 *   `offboard-<ticket id>`, the idempotency marker (a field of `task`, so of `sc_task` and `incident`);
 * - find: `GET …/{table}?sysparm_query=correlation_id=offboard-<id>` (the database: no index lag);
 * - read back: `GET …/{table}/{sys_id}?sysparm_display_value=all` (each field `{value,
 *   display_value}`). `sc_task`: done only on Closed Complete with `active=false`; Closed Incomplete,
 *   Closed Skipped, or inactive in any other state is not done. The values of these states are read
 *   from `sys_choice` (Closed Skipped is 7 in ServiceNow's scripts and 5 elsewhere, and instances can
 *   override choices), defaults 3, 4 and 7. `incident`: Resolved (6) or Closed (7) is done unless the
 *   close code is one of `notDoneCloseCodes`; Canceled (8) is not done.
 *
 * Errors: 401/403 → `TargetAuthError`; 429 → `TargetThrottledError` after `Retry-After` (seconds),
 * else `X-RateLimit-Reset` (Unix seconds); 5xx and network failures → `TargetUnavailableError`; 404 is
 * answered; other 4xx → `TargetRejectedError` with ServiceNow's `error.message` and `error.detail`.
 */
import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { ServiceNowDeskConfig } from '../../config/desk';
import { connectorAgent } from '../../lib/http';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
} from '../errors';
import { callJson } from '../http-json';
import {
  clip,
  deskMarker,
  deskRetryMs,
  type DeskClient,
  type DeskReadBack,
  type DeskTicketRef,
} from './types';

const SYS_ID = /^[0-9a-f]{32}$/;

/** Labels of the `sc_task` states Offboard tells apart, and their usual values. */
const TASK_STATES = {
  complete: 'Closed Complete',
  incomplete: 'Closed Incomplete',
  skipped: 'Closed Skipped',
};
const DEFAULT_TASK_VALUES = { complete: '3', incomplete: '4', skipped: '7' };
/** `incident` state values (ServiceNow's defaults). */
const INCIDENT = { resolved: '6', closed: '7', canceled: '8' };
/** How long the states read from `sys_choice` are kept. */
const CHOICES_TTL_MS = 3_600_000;

type Field = { value?: unknown; display_value?: unknown } | undefined;
const valueOf = (f: Field) => (typeof f?.value === 'string' ? f.value : '');
const shown = (f: Field) => (typeof f?.display_value === 'string' ? f.display_value : valueOf(f));

/** ServiceNow's error text: `error.message: error.detail`. */
export function servicenowReason(json: unknown, text: string): string {
  const e = (json as { error?: { message?: unknown; detail?: unknown } } | null)?.error;
  if (!e || typeof e.message !== 'string') return clip(text, 200);
  return clip(typeof e.detail === 'string' && e.detail ? `${e.message}: ${e.detail}` : e.message, 300);
}

/** `2026-11-26 14:03:00`: a date-time as the Table API takes it (UTC). */
const glideDateTime = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');

/** Creates the client of one catalog entry's desk; `user` and `password` are its credentials. */
export function createServiceNowDesk(cfg: ServiceNowDeskConfig, user: string, password: string): DeskClient {
  const origin = new URL(cfg.instanceUrl).origin;
  const base = `${origin}/api/now/table`;
  const dispatcher = connectorAgent(cfg.caFile ? readFileSync(cfg.caFile, 'utf8') : undefined);
  const headers = {
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    accept: 'application/json',
    'content-type': 'application/json',
  };
  const notDoneCodes = new Set(cfg.notDoneCloseCodes.map((c) => c.toLowerCase()));
  let choices: { values: typeof DEFAULT_TASK_VALUES; at: number } | null = null;

  async function send(method: Dispatcher.HttpMethod, path: string, body?: unknown) {
    const what = `ServiceNow ${method} ${path.split('?')[0]}`;
    const res = await callJson(
      `${base}${path}`,
      { method, dispatcher, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) },
      what,
    );
    const { status, json, text } = res;
    if (status < 400 || status === 404) return { status, json };
    const msg = `${what}: ${status} ${servicenowReason(json, text)}`;
    if (status === 401)
      throw new TargetAuthError(
        `${msg}: check the user in ${cfg.userEnv} and its password in ${cfg.passwordEnv}`,
      );
    if (status === 403)
      throw new TargetAuthError(`${msg}: the user lacks a role or an ACL allowing this on ${cfg.table}`);
    if (status === 429) throw new TargetThrottledError(msg, deskRetryMs(res.headers));
    if (status >= 500) throw new TargetUnavailableError(msg);
    throw new TargetRejectedError(msg);
  }

  /** The values of Closed Complete, Closed Incomplete and Closed Skipped on this instance's table. */
  async function taskStates(): Promise<typeof DEFAULT_TASK_VALUES> {
    if (choices && Date.now() - choices.at < CHOICES_TTL_MS) return choices.values;
    const q = new URLSearchParams({
      sysparm_query: `nameIN${cfg.table},task^element=state^inactive=false^language=en`,
      sysparm_fields: 'name,value,label',
    });
    const r = await send('GET', `/sys_choice?${q.toString()}`);
    const rows = (
      (r.json as { result?: { name?: string; value?: string; label?: string }[] } | null)?.result ?? []
    )
      // The table's own choices (a dictionary override) win over those it inherits from `task`.
      .sort((a, b) => (a.name === cfg.table ? 0 : 1) - (b.name === cfg.table ? 0 : 1));
    const pick = (label: string, dflt: string) =>
      rows.find((c) => c.label === label && typeof c.value === 'string')?.value ?? dflt;
    const values = {
      complete: pick(TASK_STATES.complete, DEFAULT_TASK_VALUES.complete),
      incomplete: pick(TASK_STATES.incomplete, DEFAULT_TASK_VALUES.incomplete),
      skipped: pick(TASK_STATES.skipped, DEFAULT_TASK_VALUES.skipped),
    };
    choices = { values, at: Date.now() };
    return values;
  }

  const refOf = (sysId: string, number: unknown): DeskTicketRef => ({
    ref: sysId,
    key: typeof number === 'string' && number ? number : sysId,
    url: `${origin}/${cfg.table}.do?sys_id=${sysId}`,
  });

  return {
    kind: 'servicenow',

    async find(ticketId) {
      const q = new URLSearchParams({
        sysparm_query: `correlation_id=${deskMarker(ticketId)}^ORDERBYsys_created_on`,
        sysparm_fields: 'sys_id,number',
        sysparm_limit: '2',
      });
      const r = await send('GET', `/${cfg.table}?${q.toString()}`);
      const rows = (
        (r.json as { result?: { sys_id?: string; number?: string }[] } | null)?.result ?? []
      ).filter((x) => typeof x.sys_id === 'string' && SYS_ID.test(x.sys_id));
      return rows.length > 0 ? refOf(rows[0]!.sys_id!, rows[0]!.number) : null;
    },

    async create(t) {
      const r = await send('POST', `/${cfg.table}`, {
        short_description: clip(t.summary, 160),
        description: clip(t.description, 4000),
        correlation_id: deskMarker(t.ticketId),
        correlation_display: 'Offboard',
        due_date: glideDateTime(t.dueAt),
        ...(cfg.assignmentGroup ? { assignment_group: cfg.assignmentGroup } : {}),
      });
      if (r.status === 404)
        throw new TargetRejectedError(
          `ServiceNow POST /${cfg.table}: 404: no table ${cfg.table} for this user`,
        );
      const rec = (r.json as { result?: { sys_id?: unknown; number?: unknown } } | null)?.result;
      if (typeof rec?.sys_id !== 'string' || !SYS_ID.test(rec.sys_id))
        throw new TargetUnavailableError(`ServiceNow POST /${cfg.table}: the answer has no sys_id`);
      return refOf(rec.sys_id, rec.number);
    },

    async read(sysId): Promise<DeskReadBack> {
      if (!SYS_ID.test(sysId)) throw new TargetRejectedError(`not a ServiceNow sys_id: ${clip(sysId, 40)}`);
      const q = new URLSearchParams({
        sysparm_fields: 'number,state,active,close_code,close_notes,closed_by,resolved_by',
        sysparm_display_value: 'all',
        sysparm_exclude_reference_link: 'true',
      });
      const r = await send('GET', `/${cfg.table}/${sysId}?${q.toString()}`);
      if (r.status === 404) return { state: 'missing', key: sysId };
      const rec = (r.json as { result?: Record<string, Field> } | null)?.result;
      if (!rec || !valueOf(rec.state))
        throw new TargetUnavailableError(`ServiceNow GET /${cfg.table}/${sysId}: the answer has no state`);
      const key = valueOf(rec.number) || sysId;
      const state = valueOf(rec.state);
      const active = valueOf(rec.active) !== 'false';
      const closeCode = shown(rec.close_code);
      const notes = shown(rec.close_notes);
      const by = shown(rec.closed_by) || shown(rec.resolved_by) || null;
      const words = [shown(rec.state), closeCode, notes].filter(Boolean).join(': ');
      if (cfg.table === 'incident') {
        if (state === INCIDENT.canceled) return { state: 'not_done', key, words, by };
        if (state !== INCIDENT.resolved && state !== INCIDENT.closed)
          return { state: 'open', key, status: shown(rec.state) };
        const notDone = closeCode && notDoneCodes.has(closeCode.toLowerCase());
        return { state: notDone ? 'not_done' : 'done', key, words, by };
      }
      const v = await taskStates();
      if (state === v.complete && !active) return { state: 'done', key, words, by };
      if (state === v.incomplete || state === v.skipped || !active)
        return { state: 'not_done', key, words, by };
      return { state: 'open', key, status: shown(rec.state) };
    },

    async close() {
      await dispatcher.close();
    },
  };
}
