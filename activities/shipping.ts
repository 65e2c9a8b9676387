/**
 * Prepaid return labels for remote asset returns. The interface follows what label APIs take and give
 * (EasyPost, Shippo and carriers' return-label endpoints): a sender, a recipient, what is shipped, an
 * idempotency key; back a label reference, a tracking number and a label URL once issued. The built-in
 * provider has no carrier: it asks the IT desk, by email, to issue the label (a label request task).
 */
import type { Catalog } from '../config/catalog';
import type { Mailer } from '../lib/mailer';

export interface ReturnLabelRequest {
  departureId: string;
  /** Idempotency key: asking twice for the same recovery yields the same label (or label request). */
  recoveryId: string;
  assetTag: string;
  assetName: string;
  /** The former employee, who ships the asset; the label goes to this (personal) address. */
  shipFrom: { name: string; email: string };
  /** Where the asset goes: the IT desk. */
  shipTo: { name: string; location: string };
}

export interface ReturnLabel {
  /** The provider's reference of the label (or of the label request). */
  labelRef: string;
  /** `issued`: a label exists (tracking number and URL given); `requested`: someone will issue it. */
  status: 'issued' | 'requested';
  trackingNumber?: string;
  labelUrl?: string;
}

export interface ShippingProvider {
  /** e.g. `builtin`; recorded in the chain of custody. */
  readonly name: string;
  /** Creates (or finds, by `recoveryId`) the prepaid return label of one asset. */
  createReturnLabel(req: ReturnLabelRequest): Promise<ReturnLabel>;
}

/**
 * Built-in provider: a label request task for the IT desk. Emails the desk (once per recovery: the
 * Notification key is the recovery) asking for a prepaid label for the asset, to be sent to the former
 * employee's personal address, and answers `requested`.
 */
export function createBuiltinShipping(deps: {
  mailer: Mailer;
  itDesk: { name: string; email: string; location: string };
  publicUrl: string;
}): ShippingProvider {
  const { mailer, itDesk } = deps;
  return {
    name: 'builtin',
    async createReturnLabel(req) {
      const labelRef = `label-request:${req.recoveryId}`;
      await mailer.send({
        key: labelRef,
        departureId: req.departureId,
        purpose: 'label_request',
        to: itDesk.email,
        subject: `[Offboard] Prepaid return label needed: ${req.assetName} (${req.assetTag}) from ${req.shipFrom.name}`,
        text: [
          `Hello ${itDesk.name},`,
          '',
          `${req.shipFrom.name} has left the company and works remotely. Please issue a prepaid return`,
          `shipping label for the asset below and email it to them at ${req.shipFrom.email} (their personal`,
          'address; their work account is disabled).',
          '',
          `Asset: ${req.assetName} (tag ${req.assetTag})`,
          `Ship to: ${req.shipTo.name}, ${req.shipTo.location}`,
          `Label request: ${labelRef}`,
          `Departure: ${deps.publicUrl}/departures/${req.departureId}`,
          '',
          'When the parcel arrives, inspect the asset and record its receipt in Offboard.',
        ].join('\n'),
      });
      return { labelRef, status: 'requested' };
    },
  };
}

/** The catalog's shipping provider (`assets.shipping.provider`). */
export function createShippingProvider(
  catalog: Catalog,
  deps: { mailer: Mailer; publicUrl: string },
): ShippingProvider {
  switch (catalog.assets.shipping.provider) {
    case 'builtin':
      return createBuiltinShipping({ ...deps, itDesk: catalog.assets.itDesk });
  }
}
