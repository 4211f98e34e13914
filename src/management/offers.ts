// Offers: what the visitor is sent to buy, and what a conversion of it pays.
import { z } from 'zod';
import { affiliateNetworks, offers } from '../db/schema.js';
import { DESTINATION_TOKENS } from '../tracking/tokens.js';
import { Currency, formatMoney, Id, Money, Name, templateUrl } from './fields.js';
import { checkRefs, insertRow, updateRow, type ManagementDeps } from './managed-rows.js';

export const DestinationUrl = templateUrl(DESTINATION_TOKENS).describe(
  `http(s) URL; tokens: ${DESTINATION_TOKENS.map((t) => `{${t}}`).join(' ')} and {var:NAME} for any visit parameter`,
);

const offerFields = {
  name: Name,
  url: DestinationUrl,
  payout: Money.describe('default payout when a postback carries none: decimal string (or number), in `currency`'),
  currency: Currency.describe('ISO 4217; defaults to ACCOUNT_CURRENCY'),
  affiliateNetworkId: Id.nullable().describe('the affiliate network that pays for it'),
  attributionWindowDays: z.number().int().min(1).max(365).describe('conversions later than this after the click are not attributed'),
  allowDuplicates: z.boolean().describe('count repeated conversions of one click (same type, no txid) instead of ignoring them'),
  dailyCap: z
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .nullable()
    .describe('conversions (approved or pending) per day in ACCOUNT_TIMEZONE; once reached, flows send visitors to the other offers of the path until midnight (null: no cap)'),
};

export const OfferCreate = z.strictObject({
  name: offerFields.name,
  url: offerFields.url,
  payout: offerFields.payout.optional(),
  currency: offerFields.currency.optional(),
  affiliateNetworkId: offerFields.affiliateNetworkId.optional(),
  attributionWindowDays: offerFields.attributionWindowDays.optional(),
  allowDuplicates: offerFields.allowDuplicates.optional(),
  dailyCap: offerFields.dailyCap.optional(),
});

export const OfferPatch = z.strictObject({
  name: offerFields.name.optional(),
  url: offerFields.url.optional(),
  payout: offerFields.payout.optional(),
  currency: offerFields.currency.optional(),
  affiliateNetworkId: offerFields.affiliateNetworkId.optional(),
  attributionWindowDays: offerFields.attributionWindowDays.optional(),
  allowDuplicates: offerFields.allowDuplicates.optional(),
  dailyCap: offerFields.dailyCap.optional(),
  status: z.enum(['active', 'archived']).optional(),
});

export const OfferOut = z.object({
  id: z.number().int(),
  name: z.string(),
  url: z.string(),
  payout: z.string(),
  currency: z.string(),
  affiliateNetworkId: z.number().int().nullable(),
  attributionWindowDays: z.number().int(),
  allowDuplicates: z.boolean(),
  dailyCap: z.number().int().nullable(),
  status: z.string(),
  version: z.number().int(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

type OfferRow = typeof offers.$inferSelect;

export function toOffer(row: OfferRow): z.output<typeof OfferOut> {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    payout: formatMoney(row.payout),
    currency: row.currency,
    affiliateNetworkId: row.affiliateNetworkId,
    attributionWindowDays: row.attributionWindowDays,
    allowDuplicates: row.allowDuplicates,
    dailyCap: row.dailyCap,
    status: row.status,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

const checkNetwork = (deps: ManagementDeps, id: number | null | undefined) =>
  id == null ? Promise.resolve() : checkRefs(deps.db, affiliateNetworks, 'affiliate network', [{ field: 'affiliateNetworkId', id }]);

export async function createOffer(deps: ManagementDeps, input: z.output<typeof OfferCreate>): Promise<OfferRow> {
  await checkNetwork(deps, input.affiliateNetworkId);
  return insertRow(deps, offers, {
    name: input.name,
    url: input.url,
    payout: input.payout ?? '0',
    currency: input.currency ?? deps.accountCurrency,
    affiliateNetworkId: input.affiliateNetworkId ?? null,
    attributionWindowDays: input.attributionWindowDays ?? 30,
    allowDuplicates: input.allowDuplicates ?? false,
    dailyCap: input.dailyCap ?? null,
  });
}

export async function updateOffer(deps: ManagementDeps, id: number, patch: z.output<typeof OfferPatch>, ifMatch?: string): Promise<OfferRow> {
  return updateRow(deps, offers, {
    id,
    what: 'offer',
    kind: 'offer',
    ifMatch,
    change: async (current) => {
      if (patch.affiliateNetworkId !== undefined && patch.affiliateNetworkId !== current.affiliateNetworkId) {
        await checkNetwork(deps, patch.affiliateNetworkId);
      }
      const set: Partial<typeof offers.$inferInsert> = {};
      for (const k of ['name', 'url', 'payout', 'currency', 'affiliateNetworkId', 'attributionWindowDays', 'allowDuplicates', 'dailyCap', 'status'] as const) {
        if (patch[k] !== undefined) (set as Record<string, unknown>)[k] = patch[k];
      }
      return set;
    },
  });
}
