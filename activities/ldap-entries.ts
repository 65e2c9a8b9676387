/**
 * Reads and group changes on directory entries that both directory connectors (and both directory
 * kinds, OpenLDAP and Active Directory) share.
 */
import {
  Attribute,
  Change,
  EqualityFilter,
  NoSuchAttributeError,
  NoSuchObjectError,
  ObjectClassViolationError,
  OrFilter,
  type Client,
  type Entry,
} from 'ldapts';
import { TargetRejectedError } from './errors';

/** The first value of an attribute as a string. */
export function first(v: string | string[] | Buffer | Buffer[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined ? undefined : x.toString();
}

/** Every value of an attribute as strings (none when absent). */
export function values(v: string | string[] | Buffer | Buffer[] | undefined): string[] {
  return v === undefined ? [] : [v].flat().map(String);
}

/** Binary attributes (Active Directory's), read as Buffers whatever their bytes (ldapts guesses by UTF-8). */
export const BINARY_ATTRS = ['objectGUID', 'objectSid'];

/** One entry by DN, or null when it does not exist. */
export async function readEntry(c: Client, dn: string, attributes: string[]): Promise<Entry | null> {
  try {
    const { searchEntries } = await c.search(dn, {
      scope: 'base',
      attributes,
      explicitBufferAttributes: BINARY_ATTRS,
    });
    return searchEntries[0] ?? null;
  } catch (e) {
    if (e instanceof NoSuchObjectError) return null;
    throw e;
  }
}

export type MemberAttr = 'member' | 'uniqueMember';
export const MEMBER_ATTRS: MemberAttr[] = ['member', 'uniqueMember'];

/**
 * Which membership attributes of `groupDn` hold `userDn`, matched by the server (so differences of case
 * or spacing in the stored DN do not matter). Throws NoSuchObjectError when the group does not exist.
 */
export async function memberAttrs(c: Client, groupDn: string, userDn: string): Promise<MemberAttr[]> {
  const out: MemberAttr[] = [];
  for (const attr of MEMBER_ATTRS) {
    const { searchEntries } = await c.search(groupDn, {
      scope: 'base',
      filter: new EqualityFilter({ attribute: attr, value: userDn }),
      attributes: ['1.1'],
    });
    if (searchEntries.length > 0) out.push(attr);
  }
  return out;
}

/**
 * Removes `userDn` from one membership attribute of a group. A group whose schema needs a member gets
 * `emptyGroupMember` in the same modify (atomic, and it does not clobber members added meanwhile).
 * Returns false when the value was already gone.
 */
export async function removeMember(
  c: Client,
  groupDn: string,
  attr: MemberAttr,
  userDn: string,
  emptyGroupMember: string | undefined,
): Promise<boolean> {
  const del = new Change({
    operation: 'delete',
    modification: new Attribute({ type: attr, values: [userDn] }),
  });
  try {
    await c.modify(groupDn, del);
    return true;
  } catch (e) {
    if (e instanceof NoSuchAttributeError) return false;
    if (!(e instanceof ObjectClassViolationError)) throw e;
  }
  if (!emptyGroupMember)
    throw new TargetRejectedError(
      `cannot remove the last member of ${groupDn} (the schema needs one); set connector.emptyGroupMember`,
    );
  await c.modify(groupDn, [
    new Change({
      operation: 'add',
      modification: new Attribute({ type: attr, values: [emptyGroupMember] }),
    }),
    del,
  ]);
  return true;
}

/** The groups under `groupBaseDn` that list `dn` as a member, with the attribute that does. */
export async function groupsOf(
  c: Client,
  groupBaseDn: string,
  dn: string,
): Promise<{ dn: string; attr: MemberAttr }[]> {
  const { searchEntries } = await c.search(groupBaseDn, {
    scope: 'sub',
    filter: new OrFilter({
      filters: MEMBER_ATTRS.map((attribute) => new EqualityFilter({ attribute, value: dn })),
    }),
    attributes: ['dn', 'member', 'uniqueMember'],
  });
  return searchEntries.map((g) => ({
    dn: g.dn,
    attr: (g.uniqueMember !== undefined && values(g.uniqueMember).includes(dn)
      ? 'uniqueMember'
      : 'member') as MemberAttr,
  }));
}

/** Lower-cased DN without spaces around separators, for a rough "is this under that base" check. */
export function normDn(dn: string): string {
  return dn.toLowerCase().replace(/\s*([,=+])\s*/g, '$1');
}

/** True when `dn` is strictly below `base`. */
export function isUnder(dn: string, base: string): boolean {
  const n = normDn(dn);
  const b = normDn(base);
  return n !== b && n.endsWith(`,${b}`);
}
