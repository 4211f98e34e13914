// Affiliate networks: who pays for conversions, how their postbacks are checked (secret, IPs),
// what their status words mean, and the postback URL to paste into them.
import { z } from 'zod';
import { affiliateNetworks } from '../db/schema.js';
import { badRequest } from '../http/errors.js';
import { Cidr, Macro, Name } from './fields.js';
import { networkPostbackUrl } from './links.js';
import { insertRow, updateRow, type ManagementDeps } from './managed-rows.js';
import { AFFILIATE_NETWORK_PRESET_NAMES, AFFILIATE_NETWORK_PRESETS, type AffiliateNetworkPreset } from './presets.js';

const StatusMap = z
  .record(z.string().trim().min(1).max(64), z.enum(['approved', 'pending', 'declined']))
  .describe('raw status value sent by the network -> approved | pending | declined');

const Secret = z
  .string()
  .trim()
  .min(8, 'a postback secret needs at least 8 characters')
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'a postback secret is printable ASCII without spaces')
  .nullable()
  .describe('when set, every postback for this network must carry it (secret=... or X-Tracklane-Secret)');

const MacroField = (what: string) => Macro.min(1, `${what} cannot be empty; use null to leave it out`).nullable();

const fields = {
  name: Name,
  postbackSecret: Secret,
  allowedIps: z.array(Cidr).max(200).describe('postbacks are accepted only from these addresses or CIDR ranges (empty: from anywhere)'),
  statusMap: StatusMap,
  clickIdToken: Macro.min(1, 'the click ID macro is required').describe("the network's macro that returns our click ID: {aff_sub} (TUNE), #s2# (CAKE), {sub1} (Everflow)"),
  payoutToken: MacroField('payoutToken').describe("the network's payout macro, e.g. {payout}"),
  txidToken: MacroField('txidToken').describe("the network's transaction ID macro, e.g. {transaction_id}"),
  statusToken: MacroField('statusToken').describe("the network's conversion status macro, if it has one"),
};

export const AffiliateNetworkCreate = z.strictObject({
  name: fields.name,
  preset: z.enum(AFFILIATE_NETWORK_PRESET_NAMES).optional().describe('fills the macros (and statusMap) of a known network; explicit fields win'),
  postbackSecret: fields.postbackSecret.optional(),
  allowedIps: fields.allowedIps.optional(),
  statusMap: fields.statusMap.optional(),
  clickIdToken: fields.clickIdToken.optional().describe(`${fields.clickIdToken.description}; required without a preset`),
  payoutToken: fields.payoutToken.optional(),
  txidToken: fields.txidToken.optional(),
  statusToken: fields.statusToken.optional(),
});

export const AffiliateNetworkPatch = z.strictObject({
  name: fields.name.optional(),
  postbackSecret: fields.postbackSecret.optional(),
  allowedIps: fields.allowedIps.optional(),
  statusMap: fields.statusMap.optional(),
  clickIdToken: fields.clickIdToken.optional(),
  payoutToken: fields.payoutToken.optional(),
  txidToken: fields.txidToken.optional(),
  statusToken: fields.statusToken.optional(),
  status: z.enum(['active', 'archived']).optional(),
});

export const AffiliateNetworkOut = z.object({
  id: z.number().int(),
  name: z.string(),
  preset: z.string().nullable(),
  postbackSecret: z
    .string()
    .nullable()
    .describe('returned to admin keys (the owner needs it to configure the network); null for read-only keys, which must not be able to forge postbacks'),
  allowedIps: z.array(z.string()),
  statusMap: z.record(z.string(), z.string()),
  clickIdToken: z.string().nullable(),
  payoutToken: z.string().nullable(),
  txidToken: z.string().nullable(),
  statusToken: z.string().nullable(),
  postbackUrl: z.string().describe('paste this into the affiliate network as its global/offer postback'),
  status: z.string(),
  version: z.number().int(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

type Row = typeof affiliateNetworks.$inferSelect;

/**
 * `readOnly`: for a read-only API key, without the postback secret (here and in postbackUrl). The
 * secret is what lets a caller record conversions; a key meant for reporting tools must not carry it.
 */
export function toAffiliateNetwork(row: Row, deps: Pick<ManagementDeps, 'publicUrl'>, readOnly = false): z.output<typeof AffiliateNetworkOut> {
  const shown = readOnly ? { ...row, postbackSecret: null } : row;
  return {
    id: row.id,
    name: row.name,
    preset: row.preset,
    postbackSecret: shown.postbackSecret,
    allowedIps: row.allowedIps,
    statusMap: row.statusMap,
    clickIdToken: row.clickIdToken,
    payoutToken: row.payoutToken,
    txidToken: row.txidToken,
    statusToken: row.statusToken,
    postbackUrl: networkPostbackUrl(deps.publicUrl, shown),
    status: row.status,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function createAffiliateNetwork(deps: ManagementDeps, input: z.output<typeof AffiliateNetworkCreate>): Promise<Row> {
  const preset: Partial<AffiliateNetworkPreset> = input.preset ? AFFILIATE_NETWORK_PRESETS[input.preset] : {};
  const pick = (k: 'payoutToken' | 'txidToken' | 'statusToken'): string | null => (input[k] !== undefined ? input[k] : (preset[k] ?? null));
  const clickIdToken = input.clickIdToken ?? preset.clickIdToken;
  if (!clickIdToken) throw badRequest('clickIdToken', 'clickIdToken: give the network macro that returns our click ID, or a preset');
  return insertRow(deps, affiliateNetworks, {
    name: input.name,
    preset: input.preset ?? null,
    postbackSecret: input.postbackSecret ?? null,
    allowedIps: input.allowedIps ?? [],
    statusMap: input.statusMap ?? { ...(preset.statusMap ?? {}) },
    clickIdToken,
    payoutToken: pick('payoutToken'),
    txidToken: pick('txidToken'),
    statusToken: pick('statusToken'),
  });
}

export async function updateAffiliateNetwork(
  deps: ManagementDeps,
  id: number,
  patch: z.output<typeof AffiliateNetworkPatch>,
  ifMatch?: string,
): Promise<Row> {
  return updateRow(deps, affiliateNetworks, {
    id,
    what: 'affiliate network',
    kind: 'affiliate-network',
    ifMatch,
    change: async () => {
      const set: Partial<typeof affiliateNetworks.$inferInsert> = {};
      for (const k of ['name', 'postbackSecret', 'allowedIps', 'statusMap', 'clickIdToken', 'payoutToken', 'txidToken', 'statusToken', 'status'] as const) {
        if (patch[k] !== undefined) (set as Record<string, unknown>)[k] = patch[k];
      }
      return set;
    },
  });
}
