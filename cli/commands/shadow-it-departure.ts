/**
 * `offboard shadow-it --departure <ref>`: the third-party applications one leaver had authorised at the
 * identity providers (Entra consents and app role assignments, Okta grants and tokens, Google OAuth
 * tokens, Keycloak consents), as the identity steps' evidence recorded them through the API: app,
 * client id, scopes, the system that held the consent, revoked, and what in the catalog covers it.
 * The ones nothing covers are the leaver's shadow IT.
 */
import { KNOWN_APPS, type ConsentRow } from '../../contract/consents';
import { createApi, resolveDeparture, withApi, type ApiOptions } from '../lib/api';
import { EXIT } from '../lib/exit';
import { colourWord, printJson, println, table } from '../lib/output';

export interface DepartureShadowIt {
  departureId: string;
  employeeId: string;
  /** Uncovered first, then by app name. */
  consents: ConsentRow[];
  uncovered: number;
}

/** The departure's consents, from `GET /departures/{id}`. */
export async function departureShadowIt(ref: string, opts: ApiOptions): Promise<DepartureShadowIt> {
  const api = createApi(opts);
  const v = await withApi(() => resolveDeparture(api, ref));
  const consents = [...(v.consents ?? [])].sort(
    (a, b) =>
      Number(a.coveredBy !== null) - Number(b.coveredBy !== null) ||
      a.name.localeCompare(b.name) ||
      a.systemId.localeCompare(b.systemId),
  );
  return {
    departureId: v.departure.id,
    employeeId: v.departure.employeeId,
    consents,
    uncovered: consents.filter((c) => c.coveredBy === null).length,
  };
}

const covered = (c: ConsentRow) =>
  c.coveredBy === null
    ? colourWord('NOT IN CATALOG', 'red')
    : c.coveredBy === KNOWN_APPS
      ? 'known app (shadowIt.knownApps)'
      : c.coveredBy;

/** Prints the report (a table, or JSON) and sets the exit code: 1 when an app is uncovered. */
export async function printDepartureShadowIt(
  ref: string,
  opts: ApiOptions & { json?: boolean },
): Promise<void> {
  const r = await departureShadowIt(ref, opts);
  if (opts.json) printJson(r);
  else if (r.consents.length === 0)
    println(
      `No third-party app consents recorded for departure ${r.departureId} (${r.employeeId}): the ` +
        'identity-provider steps found none, or have not confirmed yet (offboard status).',
    );
  else {
    println(
      table(
        ['APPLICATION', 'CLIENT ID', 'SCOPES', 'HELD BY', 'KIND', 'STATUS', 'CATALOG'],
        r.consents.map((c) => [
          c.name,
          c.appId,
          c.scopes.join(' ') || '-',
          `${c.systemName} (${c.systemId})`,
          c.kind,
          c.revoked ? 'revoked' : 'not confirmed',
          covered(c),
        ]),
      ) + '\n',
    );
    println(
      `${r.consents.length} third-party app consent(s) of departure ${r.departureId} (${r.employeeId}): ` +
        `${r.uncovered} not covered by the catalog (shadow IT), ${r.consents.length - r.uncovered} covered`,
    );
  }
  process.exitCode = r.uncovered > 0 ? EXIT.finding : EXIT.ok;
}
