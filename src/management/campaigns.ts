// Campaigns: a traffic source's link (key) bound to a flow of landers and offers, with a cost
// model. What /click serves comes from here, through the campaign cache.
import { randomBytes } from 'node:crypto';
import { inArray } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { campaigns, landers, offers, trafficSources, type Flow as FlowT, type FlowPath as FlowPathT, type TrafficSourceParam } from '../db/schema.js';
import { conflict } from '../http/errors.js';
import { DESTINATION_TOKENS } from '../tracking/tokens.js';
import { Flow, formatMoney, Id, Money, Name, templateUrl } from './fields.js';
import { ctaUrl, trackingUrl } from './links.js';
import { checkRefs, insertRow, isUniqueViolation, updateRow, type ManagementDeps } from './managed-rows.js';

export const COST_MODELS = ['none', 'cpc', 'cpm', 'cpa', 'revshare', 'auto'] as const;
export const REDIRECT_MODES = ['302', 'meta', 'doubleMeta'] as const;
const NEEDS_VALUE = new Set(['cpc', 'cpm', 'cpa', 'revshare']);

export const Cost = z
  .strictObject({
    model: z.enum(COST_MODELS),
    value: Money.optional().describe('required for cpc, cpm, cpa (ACCOUNT_CURRENCY) and revshare (percent 0-100)'),
  })
  .superRefine((cost, ctx) => {
    if (NEEDS_VALUE.has(cost.model) && cost.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `a ${cost.model} cost needs a value` });
    } else if (!NEEDS_VALUE.has(cost.model) && cost.value !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `a ${cost.model} cost takes no value` });
    } else if (cost.model === 'revshare' && Number(cost.value) > 100) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'a revshare is a percent from 0 to 100' });
    }
  })
  .describe('none: no cost; cpc/cpm: per visit / per thousand visits; cpa: per conversion; revshare: percent of payout; auto: from a cost param');

const CampaignKey = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{3,32}$/, 'a key is 3-32 letters, digits, _ or -')
  .describe('the campaign link is /click/KEY; generated when left out, and never changes');

const fields = {
  name: Name,
  trafficSourceId: Id.describe('the traffic source whose parameters the tracking link carries'),
  cost: Cost,
  flow: Flow,
  fallbackUrl: templateUrl(DESTINATION_TOKENS).nullable().describe('where a paused campaign (or a visit no path can serve) is sent; tokens as in offer URLs, with {clickid}, {offer.*} and {lander.*} empty (no visit is recorded)'),
  redirectMode: z.enum(REDIRECT_MODES).describe('302 (default), meta (meta refresh), doubleMeta (two meta refreshes, hides the referrer)'),
  forwardPostbacks: z.boolean().describe("report conversions to the traffic source's postback URL"),
};

export const CampaignCreate = z.strictObject({
  name: fields.name,
  key: CampaignKey.optional(),
  trafficSourceId: fields.trafficSourceId,
  cost: fields.cost.optional(),
  flow: fields.flow,
  status: z.enum(['active', 'paused']).optional().describe('default active; a paused campaign sends visitors to fallbackUrl (else 404) and records no visit'),
  fallbackUrl: fields.fallbackUrl.optional(),
  redirectMode: fields.redirectMode.optional(),
  forwardPostbacks: fields.forwardPostbacks.optional(),
});

/** What a copy may change; everything else (flow, cost, redirect mode, fallback) is the original's. */
export const CampaignClone = z.strictObject({
  name: fields.name.optional().describe('default: the original name with " (copy)"'),
  key: CampaignKey.optional(),
  trafficSourceId: fields.trafficSourceId.optional(),
});

export const CampaignPatch = z.strictObject(
  {
    name: fields.name.optional(),
    trafficSourceId: fields.trafficSourceId.optional(),
    cost: fields.cost.optional(),
    flow: fields.flow.optional(),
    status: z.enum(['active', 'paused', 'archived']).optional().describe('paused: visitors go to fallbackUrl (else 404); archived: the link answers 404; active restores'),
    fallbackUrl: fields.fallbackUrl.optional(),
    redirectMode: fields.redirectMode.optional(),
    forwardPostbacks: fields.forwardPostbacks.optional(),
  },
  {
    // The key is in every ad that links to the campaign: "Unrecognized key" would not say why.
    error: (issue) =>
      issue.code === 'unrecognized_keys' && issue.keys.includes('key')
        ? "a campaign's key never changes (it is in the links your ads carry); clone the campaign for a new key"
        : undefined,
  },
);

export const CampaignOut = z.object({
  id: z.number().int(),
  name: z.string(),
  key: z.string(),
  trafficSourceId: z.number().int(),
  cost: z.object({ model: z.enum(COST_MODELS), value: z.string().nullable() }),
  flow: Flow,
  fallbackUrl: z.string().nullable(),
  redirectMode: z.enum(REDIRECT_MODES),
  forwardPostbacks: z.boolean(),
  trackingUrl: z.string().describe('the link to give the traffic source: PUBLIC_URL/click/KEY?name={token}&...'),
  ctaUrl: z.string().describe("the link for a lander's call to action: PUBLIC_URL/cta (or /cta/N for the Nth offer of a multi-offer lander)"),
  status: z.enum(['active', 'paused', 'archived']),
  version: z.number().int(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

type Row = typeof campaigns.$inferSelect;

export function toCampaign(row: Row, params: readonly TrafficSourceParam[], deps: Pick<ManagementDeps, 'publicUrl'>): z.output<typeof CampaignOut> {
  return {
    id: row.id,
    name: row.name,
    key: row.key,
    trafficSourceId: row.trafficSourceId,
    cost: { model: row.costModel as (typeof COST_MODELS)[number], value: formatMoney(row.costValue) },
    flow: row.flow,
    fallbackUrl: row.fallbackUrl,
    redirectMode: row.redirectMode as (typeof REDIRECT_MODES)[number],
    forwardPostbacks: row.forwardPostbacks,
    trackingUrl: trackingUrl(deps.publicUrl, row.key, params),
    ctaUrl: ctaUrl(deps.publicUrl),
    status: row.status as 'active' | 'paused' | 'archived',
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The traffic-source params of each campaign, in one query, for building tracking URLs. */
export async function paramsFor(db: Db, rows: readonly Row[]): Promise<Map<number, TrafficSourceParam[]>> {
  const ids = [...new Set(rows.map((r) => r.trafficSourceId))];
  if (ids.length === 0) return new Map();
  const found = await db.select({ id: trafficSources.id, params: trafficSources.params }).from(trafficSources).where(inArray(trafficSources.id, ids));
  return new Map(found.map((t) => [t.id, t.params]));
}

const KEY_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** 8 base62 characters (~47 bits): short enough to read aloud, too many to guess a live campaign. */
export function generateCampaignKey(length = 8): string {
  let key = '';
  while (key.length < length) {
    for (const b of randomBytes(length * 2)) {
      // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
      if (b < 248 && key.length < length) key += KEY_ALPHABET[b % 62];
    }
  }
  return key;
}

/** Every offer and lander reference in a flow, with the field path a 400 would name. */
export function flowReferences(flow: FlowT): { offers: { field: string; id: number }[]; landers: { field: string; id: number }[] } {
  const out = { offers: [] as { field: string; id: number }[], landers: [] as { field: string; id: number }[] };
  const collect = (path: FlowPathT, base: string) => {
    path.landers?.forEach((l, i) => out.landers.push({ field: `${base}.landers[${i}].id`, id: l.id }));
    path.offers.forEach((o, i) => out.offers.push({ field: `${base}.offers[${i}].id`, id: o.id }));
  };
  flow.rules.forEach((rule, r) => rule.paths.forEach((p, i) => collect(p, `flow.rules[${r}].paths[${i}]`)));
  flow.paths.forEach((p, i) => collect(p, `flow.paths[${i}]`));
  return out;
}

/** New references must be live; ones the previous flow already had may have been archived since. */
async function checkFlow(db: Db, flow: FlowT, previous?: FlowT): Promise<void> {
  const refs = flowReferences(flow);
  const before = previous ? flowReferences(previous) : { offers: [], landers: [] };
  await checkRefs(db, offers, 'offer', refs.offers, new Set(before.offers.map((r) => r.id)));
  await checkRefs(db, landers, 'lander', refs.landers, new Set(before.landers.map((r) => r.id)));
}

const checkTrafficSource = (db: Db, id: number, previous?: number) =>
  checkRefs(db, trafficSources, 'traffic source', [{ field: 'trafficSourceId', id }], new Set(previous === undefined ? [] : [previous]));

/** `copyOf`: a clone's original, whose references (archived since, and still serving it) the copy may keep. */
export async function createCampaign(deps: ManagementDeps, input: z.output<typeof CampaignCreate>, copyOf?: Row): Promise<Row> {
  await checkTrafficSource(deps.db, input.trafficSourceId, copyOf?.trafficSourceId);
  await checkFlow(deps.db, input.flow, copyOf?.flow);
  const cost = input.cost ?? { model: 'none' as const };
  for (let attempt = 0; ; attempt++) {
    try {
      return await insertRow(deps, campaigns, {
        key: input.key ?? generateCampaignKey(),
        name: input.name,
        trafficSourceId: input.trafficSourceId,
        costModel: cost.model,
        costValue: cost.value ?? null,
        flow: input.flow,
        status: input.status ?? 'active',
        fallbackUrl: input.fallbackUrl ?? null,
        redirectMode: input.redirectMode ?? '302',
        forwardPostbacks: input.forwardPostbacks ?? true,
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      if (input.key) throw conflict(`key "${input.key}" is already used by another campaign`, 'key');
      if (attempt >= 4) throw err;
    }
  }
}

/**
 * A new campaign (new key, active) with the original's flow, cost and settings: a new ad account or
 * geo in one call. An offer or lander archived since the original was set up keeps serving it, so
 * it is copied too (as a PATCH may keep it), rather than making the copy a 400.
 */
export async function cloneCampaign(deps: ManagementDeps, original: Row, input: z.output<typeof CampaignClone>): Promise<Row> {
  return createCampaign(deps, {
    name: input.name ?? `${original.name} (copy)`.slice(0, 200),
    key: input.key,
    trafficSourceId: input.trafficSourceId ?? original.trafficSourceId,
    cost: { model: original.costModel as CostModel, ...(original.costValue !== null ? { value: original.costValue } : {}) },
    flow: original.flow,
    fallbackUrl: original.fallbackUrl,
    redirectMode: original.redirectMode as CreateInput['redirectMode'],
    forwardPostbacks: original.forwardPostbacks,
  }, original);
}
type CreateInput = z.output<typeof CampaignCreate>;
type CostModel = NonNullable<CreateInput['cost']>['model'];

export async function updateCampaign(deps: ManagementDeps, id: number, patch: z.output<typeof CampaignPatch>, ifMatch?: string): Promise<Row> {
  return updateRow(deps, campaigns, {
    id,
    what: 'campaign',
    kind: 'campaign',
    ifMatch,
    change: async (current) => {
      // References are checked when they change, so archiving an offer never blocks unrelated edits.
      if (patch.trafficSourceId !== undefined && patch.trafficSourceId !== current.trafficSourceId) {
        await checkTrafficSource(deps.db, patch.trafficSourceId);
      }
      if (patch.flow !== undefined) await checkFlow(deps.db, patch.flow, current.flow);
      const set: Partial<typeof campaigns.$inferInsert> = {};
      for (const k of ['name', 'trafficSourceId', 'flow', 'status', 'fallbackUrl', 'redirectMode', 'forwardPostbacks'] as const) {
        if (patch[k] !== undefined) (set as Record<string, unknown>)[k] = patch[k];
      }
      if (patch.cost !== undefined) {
        set.costModel = patch.cost.model;
        set.costValue = patch.cost.value ?? null;
      }
      return set;
    },
  });
}
