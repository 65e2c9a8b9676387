/**
 * What every revocation connector implements: find the leaver's account (matching.ts, by the catalog's
 * keys), revoke it and confirm by reading it back, and audit every account any key finds.
 */
import { knownAccounts, type MatchEvidence } from '../contract';

export { knownAccounts };

/** The person whose access is revoked, as loaded from the departure record (never from history). */
export interface Subject {
  departureId: string;
  employeeId: string;
  employeeName: string;
  workEmail: string;
  /** ISO instant the termination was confirmed: revocations must take effect after it. */
  confirmedAt: string;
  /** Manager's email as the HRIS sent it; null when it did not (a connector may find it). */
  managerEmail: string | null;
  /** Account ids the HRIS (or an operator) named per catalog system: they win over any search. */
  accounts?: Record<string, string>;
}

/** The subject of a departure record (a row of `Departure`, by the client or raw SQL). */
export function subjectOf(d: {
  id: string;
  employeeId: string;
  employeeName: string;
  workEmail: string;
  confirmedAt: Date;
  managerEmail: string | null;
  accounts?: unknown;
}): Subject {
  return {
    departureId: d.id,
    employeeId: d.employeeId,
    employeeName: d.employeeName,
    workEmail: d.workEmail,
    confirmedAt: d.confirmedAt.toISOString(),
    managerEmail: d.managerEmail,
    accounts: knownAccounts(d.accounts),
  };
}

/** An account at a target, as a connector found it. */
export interface TargetAccount {
  /** Stable id at the target (object id, DN, SCIM id). */
  id: string;
  /** Human-readable name for the evidence: "Dana Reyes <dana.reyes@example.com>", a DN. */
  name: string;
  /** Other identifiers (UPN, mail, uid, userName), compared with the catalog's protected accounts. */
  aliases: string[];
}

/** What `find` concluded, with the evidence of how. `account` is set only for `found`. */
export interface AccountMatch<A extends TargetAccount = TargetAccount> {
  evidence: MatchEvidence;
  account: A | null;
}

/** A credential the leaver owns in a system (an app registration, a service account, an API key). */
export interface OwnedCredential {
  /** Stable id at the target (application object id, service account DN, ...). */
  id: string;
  /** What it is, e.g. "Entra app registration" or "LDAP service account". */
  kind: string;
  /** Human-readable name for the step table. */
  name: string;
}

export interface RevokeResult {
  /** What the connector changed in this call (empty when the target was already in the revoked state). */
  changes: string[];
  /** What reading the target back showed: the confirmation evidence. */
  confirmation: Record<string, unknown>;
  /** One line for the step table. */
  detail: string;
  /** Facts learned from the target that the departure record lacks (e.g. the manager, from Entra). */
  facts?: { managerEmail?: string };
}

/** One account the live audit found still giving access. */
export interface LiveAccount {
  id: string;
  name: string;
  /** The keys that found it (`known account id` for the HRIS's own). */
  by: string[];
  /** What still gives access, e.g. "accountEnabled=true", "2 authentication methods". */
  why: string;
}

/** The live audit of one system: every account any key finds, and the ones still giving access. */
export interface AccessFinding {
  /** Accounts found by any key, active or not. */
  found: number;
  active: LiveAccount[];
  /** The keys searched, in order. */
  keys: string[];
}

export interface RevocationConnector<A extends TargetAccount = TargetAccount> {
  /** Short description of the executing system for the step table, e.g. "entra @ graph.microsoft.com". */
  readonly executingSystem: string;
  /** The step's action name. */
  readonly action: string;
  /**
   * Finds the subject's one account here: the known account id when the HRIS named one, else every
   * catalog key; none, two or a protected one is said in the outcome, never guessed.
   */
  find(subject: Subject): Promise<AccountMatch<A>>;
  /**
   * Revokes the found account's access and confirms it by reading the target back. Idempotent: safe to
   * call again after a crash; a target already in the revoked state is confirmed without being changed.
   */
  revoke(subject: Subject, account: A): Promise<RevokeResult>;
  /**
   * Notice periods (`notice: scope` in the catalog): reduces the found account to what the person needs
   * to work and confirms it by reading the target back: administration roles and the catalog's
   * privileged groups removed, sessions renewed so the reduced rights apply now. The account stays
   * enabled and its MFA stays. Idempotent, like `revoke`. Absent: the connector cannot scope.
   */
  scope?(subject: Subject, account: A): Promise<RevokeResult>;
  /** Live check by every key: which accounts still give access? */
  audit(subject: Subject): Promise<AccessFinding>;
  /**
   * Finds credentials the leaver owns here (see the catalog's `ownedCredentials`); `account` is null
   * when `find` found none (a search by the leaver's HR fields may still find some).
   */
  discoverOwned?(subject: Subject, account: A | null): Promise<OwnedCredential[]>;
  /** Revokes one owned credential and confirms it by reading it back. Idempotent. */
  revokeOwned?(subject: Subject, item: OwnedCredential): Promise<RevokeResult>;
  /** Live check of one owned credential: what still works, or null when nothing does. */
  auditOwned?(item: OwnedCredential): Promise<string | null>;
  close?(): Promise<void>;
}
