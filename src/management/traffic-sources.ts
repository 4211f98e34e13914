// Traffic sources: the ad networks that send visits, their URL macros, and where conversions
// are reported back to them.
import { z } from 'zod';
import { trafficSources, type TrafficSourceParam } from '../db/schema.js';
import { POSTBACK_TOKENS } from '../tracking/tokens.js';
import { Macro, Name, templateUrl } from './fields.js';
import { insertRow, updateRow, type ManagementDeps } from './managed-rows.js';
import { TRAFFIC_SOURCE_PRESET_NAMES, TRAFFIC_SOURCE_PRESETS } from './presets.js';

export const PARAM_ROLES = ['campaign', 'adset', 'ad', 'placement', 'cost', 'externalId', 'custom'] as const;
export const CONVERSION_STATUSES = ['approved', 'pending', 'declined'] as const;

const Param = z.strictObject({
  name: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.\-[\]]{1,64}$/, 'a parameter name is 1-64 letters, digits or _ . - [ ]')
    .describe('query parameter in the campaign link'),
  token: Macro.describe("the ad network's macro that fills it; empty when the network appends the parameter itself (fbclid)"),
  role: z.enum(PARAM_ROLES).default('custom').describe('what the value means (default custom: a plain value, reported as var:NAME); each role but custom at most once'),
});

export const Params = z
  .array(Param)
  .max(50)
  .superRefine((params, ctx) => {
    const names = new Set<string>();
    const roles = new Set<string>();
    params.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate parameter name "${p.name}"` });
      names.add(p.name);
      if (p.role !== 'custom' && roles.has(p.role)) {
        ctx.addIssue({ code: 'custom', path: [i, 'role'], message: `role "${p.role}" is already used by another parameter` });
      }
      roles.add(p.role);
    });
  });

const PostbackStatuses = z
  .array(z.enum(CONVERSION_STATUSES))
  .max(3)
  .transform((s) => [...new Set(s)])
  .describe('which conversion statuses are forwarded to the traffic source');

const PostbackUrl = templateUrl(POSTBACK_TOKENS)
  .nullable()
  .describe(`server-to-server conversion URL of the traffic source; tokens: ${POSTBACK_TOKENS.map((t) => `{${t}}`).join(' ')}`);

export const TrafficSourceCreate = z.strictObject({
  name: Name,
  preset: z.enum(TRAFFIC_SOURCE_PRESET_NAMES).optional().describe('fills params (and postbackUrl where the network has one)'),
  params: Params.optional().describe('overrides the preset params when both are given'),
  postbackUrl: PostbackUrl.optional(),
  postbackStatuses: PostbackStatuses.optional(),
});

export const TrafficSourcePatch = z.strictObject({
  name: Name.optional(),
  params: Params.optional(),
  postbackUrl: PostbackUrl.optional(),
  postbackStatuses: PostbackStatuses.optional(),
  status: z.enum(['active', 'archived']).optional(),
});

export const TrafficSourceOut = z.object({
  id: z.number().int(),
  name: z.string(),
  preset: z.string().nullable(),
  params: z.array(z.object({ name: z.string(), token: z.string(), role: z.enum(PARAM_ROLES) })),
  postbackUrl: z.string().nullable(),
  postbackStatuses: z.array(z.string()),
  status: z.string(),
  version: z.number().int(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

type Row = typeof trafficSources.$inferSelect;

export function toTrafficSource(row: Row): z.output<typeof TrafficSourceOut> {
  return {
    id: row.id,
    name: row.name,
    preset: row.preset,
    params: row.params,
    postbackUrl: row.postbackUrl,
    postbackStatuses: row.postbackStatuses,
    status: row.status,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function createTrafficSource(deps: ManagementDeps, input: z.output<typeof TrafficSourceCreate>): Promise<Row> {
  const preset = input.preset ? TRAFFIC_SOURCE_PRESETS[input.preset] : undefined;
  const params: TrafficSourceParam[] = input.params ?? (preset ? preset.params.map((p) => ({ ...p })) : []);
  const presetPostback = preset && 'postbackUrl' in preset ? preset.postbackUrl : null;
  return insertRow(deps, trafficSources, {
    name: input.name,
    preset: input.preset ?? null,
    params,
    postbackUrl: input.postbackUrl !== undefined ? input.postbackUrl : presetPostback,
    postbackStatuses: input.postbackStatuses ?? ['approved'],
  });
}

export async function updateTrafficSource(
  deps: ManagementDeps,
  id: number,
  patch: z.output<typeof TrafficSourcePatch>,
  ifMatch?: string,
): Promise<Row> {
  return updateRow(deps, trafficSources, {
    id,
    what: 'traffic source',
    kind: 'traffic-source',
    ifMatch,
    change: async () => ({
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.params !== undefined && { params: patch.params }),
      ...(patch.postbackUrl !== undefined && { postbackUrl: patch.postbackUrl }),
      ...(patch.postbackStatuses !== undefined && { postbackStatuses: patch.postbackStatuses }),
      ...(patch.status !== undefined && { status: patch.status }),
    }),
  });
}
