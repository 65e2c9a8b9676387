/**
 * The Google Workspace stand-in's state as JSON, for `npm start` to keep across restarts: users (their
 * mail settings as entries), groups (members as user ids), mobile devices and data transfers. Issued
 * access tokens are not kept: after a restart the worker asks for new ones.
 */
import type { GoogleStandIn, GoogleStandInUser, StandInDevice, StandInGroup } from './google';
import type { StandInTransfer } from './google-handover-routes';

type SavedUser = Omit<GoogleStandInUser, 'delegates' | 'forwardingAddresses'> & {
  delegates: [string, string][];
  forwardingAddresses: [string, string][];
};

export interface GoogleStandInState {
  users: SavedUser[];
  groups: (Omit<StandInGroup, 'members'> & { members: string[] })[];
  devices: StandInDevice[];
  transfers: StandInTransfer[];
}

export function googleSnapshot(g: GoogleStandIn): GoogleStandInState {
  return {
    users: [...g.users.values()].map((u) => ({
      ...u,
      delegates: [...u.delegates],
      forwardingAddresses: [...u.forwardingAddresses],
    })),
    groups: [...g.groups.values()].map((x) => ({ ...x, members: [...x.members] })),
    devices: [...g.devices.values()],
    transfers: [...g.transfers.values()],
  };
}

/** Puts back what `googleSnapshot` saved. */
export function restoreGoogle(g: GoogleStandIn, s: GoogleStandInState): void {
  for (const u of s.users)
    g.users.set(u.id, {
      ...u,
      delegates: new Map(u.delegates),
      forwardingAddresses: new Map(u.forwardingAddresses),
    });
  for (const x of s.groups) g.groups.set(x.id, { ...x, members: new Set(x.members) });
  for (const d of s.devices) g.devices.set(d.resourceId, d);
  for (const t of s.transfers) g.transfers.set(t.id, t);
}
