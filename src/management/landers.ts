// Landers: pre-sell pages in front of offers, with one or more call-to-action slots.
import { z } from 'zod';
import { landers } from '../db/schema.js';
import { Name } from './fields.js';
import { landerCtaUrls } from './links.js';
import { insertRow, updateRow, type ManagementDeps } from './managed-rows.js';
import { DestinationUrl } from './offers.js';

const landerFields = {
  name: Name,
  url: DestinationUrl,
  offerCount: z.number().int().min(1, 'a lander has at least one offer slot').max(20).describe('CTA slots: /cta/1 ... /cta/N'),
};

export const LanderCreate = z.strictObject({
  name: landerFields.name,
  url: landerFields.url,
  offerCount: landerFields.offerCount.optional(),
});

export const LanderPatch = z.strictObject({
  name: landerFields.name.optional(),
  url: landerFields.url.optional(),
  offerCount: landerFields.offerCount.optional(),
  status: z.enum(['active', 'archived']).optional(),
});

export const LanderOut = z.object({
  id: z.number().int(),
  name: z.string(),
  url: z.string(),
  offerCount: z.number().int(),
  ctaUrls: z.array(z.string()).describe("the call-to-action links to put on the lander: PUBLIC_URL/cta, or /cta/1 ... /cta/N, one per offer slot"),
  status: z.string(),
  version: z.number().int(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

type LanderRow = typeof landers.$inferSelect;

export function toLander(row: LanderRow, deps: Pick<ManagementDeps, 'publicUrl'>): z.output<typeof LanderOut> {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    offerCount: row.offerCount,
    ctaUrls: landerCtaUrls(deps.publicUrl, row.offerCount),
    status: row.status,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function createLander(deps: ManagementDeps, input: z.output<typeof LanderCreate>): Promise<LanderRow> {
  return insertRow(deps, landers, { name: input.name, url: input.url, offerCount: input.offerCount ?? 1 });
}

export async function updateLander(deps: ManagementDeps, id: number, patch: z.output<typeof LanderPatch>, ifMatch?: string): Promise<LanderRow> {
  return updateRow(deps, landers, {
    id,
    what: 'lander',
    kind: 'lander',
    ifMatch,
    change: async () => {
      const set: Partial<typeof landers.$inferInsert> = {};
      for (const k of ['name', 'url', 'offerCount', 'status'] as const) {
        if (patch[k] !== undefined) (set as Record<string, unknown>)[k] = patch[k];
      }
      return set;
    },
  });
}
