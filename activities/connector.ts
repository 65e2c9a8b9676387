/** What every revocation connector implements. */

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

export interface RevocationConnector {
  /** Short description of the executing system for the step table, e.g. "entra @ graph.microsoft.com". */
  readonly executingSystem: string;
  /** The step's action name. */
  readonly action: string;
  /**
   * Revokes the subject's access and confirms it by reading the target back. Idempotent: safe to call
   * again after a crash; a target already in the revoked state is confirmed without being changed.
   */
  revoke(subject: Subject): Promise<RevokeResult>;
  /** Live check: does the subject still hold an active account here? */
  hasActiveAccount(subject: Subject): Promise<boolean>;
  /** Finds credentials the subject owns here (see the catalog's `ownedCredentials`). */
  discoverOwned?(subject: Subject): Promise<OwnedCredential[]>;
  /** Revokes one owned credential and confirms it by reading it back. Idempotent. */
  revokeOwned?(subject: Subject, item: OwnedCredential): Promise<RevokeResult>;
  close?(): Promise<void>;
}
