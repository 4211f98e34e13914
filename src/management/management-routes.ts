// /api/traffic-sources, /api/affiliate-networks, /api/offers, /api/landers, /api/campaigns:
// the same five routes for each (list, get, create, patch, archive), thin over the plain
// functions in this folder, with ETag / If-Match for safe concurrent edits.
import { eq, type SQL } from 'drizzle-orm';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { affiliateNetworks, campaigns, landers, offers, trafficSources } from '../db/schema.js';
import {
  AffiliateNetworkCreate,
  AffiliateNetworkOut,
  AffiliateNetworkPatch,
  createAffiliateNetwork,
  toAffiliateNetwork,
  updateAffiliateNetwork,
} from './affiliate-networks.js';
import { answer, apiReadErrors, apiWriteErrors } from '../http/answers.js';
import { CampaignClone, CampaignCreate, CampaignOut, CampaignPatch, cloneCampaign, createCampaign, paramsFor, toCampaign, updateCampaign } from './campaigns.js';
import { IdParam } from './fields.js';
import { createLander, LanderCreate, LanderOut, LanderPatch, toLander, updateLander } from './landers.js';
import { archiveRow, etagOf, getRow, listRows, ListQuery, type ManagedTable, type ManagementDeps } from './managed-rows.js';
import { createOffer, OfferCreate, OfferOut, OfferPatch, toOffer, updateOffer } from './offers.js';
import { AFFILIATE_NETWORK_PRESETS, TRAFFIC_SOURCE_PRESETS } from './presets.js';
import { createTrafficSource, toTrafficSource, TrafficSourceCreate, TrafficSourceOut, TrafficSourcePatch, updateTrafficSource } from './traffic-sources.js';

const IfMatch = z.looseObject({
  'if-match': z.string().optional().describe('the ETag you read; a write over a newer version gets 412. Without it the last write wins.'),
});

interface Managed {
  id: number;
  version: number;
}

interface EntitySpec<Row extends Managed> {
  path: string;
  tag: string;
  kind: string;
  what: string;
  /** The OpenAPI operationIds' noun (listOffers, getOffer, ...): what generated clients name their methods. */
  noun: string;
  table: ManagedTable;
  create: z.ZodType;
  patch: z.ZodType;
  out: z.ZodType;
  createDescription?: string;
  /** `readOnly`: the caller has a read-only key (see hidesSecrets). */
  present(rows: Row[], readOnly: boolean): Promise<unknown[]>;
  /** Why a create can answer 409, when it can (a campaign key already used). */
  createConflict?: string;
  /** The answer holds a secret that lets its holder write (a postback secret): ask for the key's scope. */
  hidesSecrets?: boolean;
  /** Filters of this entity's list beyond ListQuery's, and the conditions they make. */
  listQuery?: z.ZodType;
  listWhere?: (query: Record<string, unknown>) => SQL[];
  createFn(deps: ManagementDeps, body: never): Promise<Row>;
  updateFn(deps: ManagementDeps, id: number, body: never, ifMatch?: string): Promise<Row>;
}

export const managementRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const deps: ManagementDeps = {
    db: ctx.db,
    publicUrl: ctx.config.PUBLIC_URL,
    accountCurrency: ctx.config.ACCOUNT_CURRENCY,
    // The write is committed by now; a failed reload must not turn it into a 500 (the poll retries).
    changed: () =>
      ctx.campaigns.changed().catch((err: Error) => ctx.log.warn({ err: err.message }, 'campaign cache reload after a write failed; polling will catch up')),
  };

  function entityRoutes<Row extends Managed>(spec: EntitySpec<Row>) {
    // Writes need an admin key anyway (auth refuses read keys); anything but a known admin key is read-only here.
    const readOnly = (req: FastifyRequest) => spec.hidesSecrets === true && req.apiKeyScope !== 'admin';
    const one = async (req: FastifyRequest, reply: FastifyReply, row: Row, code = 200) => {
      const [body] = await spec.present([row], readOnly(req));
      return reply.code(code).header('etag', etagOf(spec.kind, row)).send(body as never);
    };
    const tags = [spec.tag];
    const a = /^[aeiou]/.test(spec.what) ? 'an' : 'a'; // OpenAPI summaries: "an offer", "an affiliate network"
    const notFound = { 404: `No ${spec.what} has this id.` };
    const withEtag = (what: string) => answer(`${what} The ETag header is its version: send it back as If-Match to change it safely.`, spec.out);

    app.get(
      spec.path,
      {
        schema: {
          tags,
          operationId: `list${spec.noun}s`,
          summary: `List ${spec.what}s`,
          description: 'Newest first. Archived ones only with status=archived or status=all.',
          querystring: spec.listQuery ?? ListQuery,
          response: {
            200: answer(
              `One page of ${spec.what}s.`,
              z.object({
                items: z.array(spec.out),
                total: z.number().int().describe('how many match the filters, over every page'),
                page: z.number().int(),
                pageSize: z.number().int(),
              }),
            ),
            ...apiReadErrors(),
          },
        },
      },
      async (req) => {
        const query = req.query as ListQuery & Record<string, unknown>;
        const page = await listRows(ctx.db, spec.table, query, spec.listWhere?.(query) ?? []);
        return { ...page, items: await spec.present(page.items as unknown as Row[], readOnly(req)) } as never;
      },
    );
    app.get(
      `${spec.path}/:id`,
      {
        schema: {
          tags,
          operationId: `get${spec.noun}`,
          summary: `Get ${a} ${spec.what}`,
          description: 'The ETag header identifies this version; send it back as If-Match when you PATCH.',
          params: IdParam,
          response: { 200: withEtag(`The ${spec.what}.`), ...apiReadErrors(notFound, 404) },
        },
      },
      async (req, reply) => one(req, reply, (await getRow(ctx.db, spec.table, req.params.id, spec.what)) as unknown as Row),
    );
    app.post(
      spec.path,
      {
        schema: {
          tags,
          operationId: `create${spec.noun}`,
          summary: `Create ${a} ${spec.what}`,
          description: spec.createDescription,
          body: spec.create,
          response: {
            201: withEtag(`The new ${spec.what}.`),
            ...(spec.createConflict ? apiWriteErrors({ 409: spec.createConflict }, 409) : apiWriteErrors()),
          },
        },
      },
      async (req, reply) => one(req, reply, await spec.createFn(deps, req.body as never), 201),
    );
    app.patch(
      `${spec.path}/:id`,
      {
        schema: {
          tags,
          operationId: `update${spec.noun}`,
          summary: `Change ${a} ${spec.what}`,
          description: 'Only the fields sent change. With If-Match, a stale ETag gets 412 instead of overwriting someone else; without it the last write wins.',
          params: IdParam,
          headers: IfMatch,
          body: spec.patch,
          response: { 200: withEtag(`The ${spec.what} as changed.`), ...apiWriteErrors(notFound, 404, 412) },
        },
      },
      async (req, reply) => one(req, reply, await spec.updateFn(deps, req.params.id, req.body as never, req.headers['if-match'])),
    );
    app.delete(
      `${spec.path}/:id`,
      {
        schema: {
          tags,
          operationId: `archive${spec.noun}`,
          summary: `Archive ${a} ${spec.what}`,
          description: 'Archives (status archived) and returns it; nothing is deleted, so reports and old links keep working. PATCH status back to restore.',
          params: IdParam,
          headers: IfMatch,
          response: { 200: withEtag(`The ${spec.what}, archived.`), ...apiWriteErrors(notFound, 404, 412) },
        },
      },
      async (req, reply) =>
        one(req, reply, (await archiveRow(deps, spec.table, { id: req.params.id, what: spec.what, kind: spec.kind, ifMatch: req.headers["if-match"] })) as unknown as Row),
    );
  }

  app.get(
    '/traffic-sources/presets',
    {
      schema: {
        tags: ['traffic sources'],
        operationId: 'listTrafficSourcePresets',
        summary: 'Traffic-source presets (POST /api/traffic-sources {"name","preset"})',
        response: {
          ...apiReadErrors(),
          200: answer('Every preset, by the name to give as `preset`.', z.object({
            items: z.array(
              z.object({
                name: z.string(),
                label: z.string(),
                params: z.array(z.object({ name: z.string(), token: z.string(), role: z.string() })),
                postbackUrl: z.string().nullable(),
              }),
            ),
          })),
        },
      },
    },
    async () => ({
      items: Object.entries(TRAFFIC_SOURCE_PRESETS).map(([name, p]) => ({
        name,
        label: p.label,
        params: p.params.map((x) => ({ ...x })),
        postbackUrl: 'postbackUrl' in p ? p.postbackUrl : null,
      })),
    }),
  );
  app.get(
    '/affiliate-networks/presets',
    {
      schema: {
        tags: ['affiliate networks'],
        operationId: 'listAffiliateNetworkPresets',
        summary: 'Affiliate-network presets (POST /api/affiliate-networks {"name","preset"})',
        response: {
          ...apiReadErrors(),
          200: answer('Every preset, by the name to give as `preset`.', z.object({
            items: z.array(
              z.object({
                name: z.string(),
                label: z.string(),
                clickIdToken: z.string(),
                payoutToken: z.string().nullable(),
                txidToken: z.string().nullable(),
                statusToken: z.string().nullable(),
              }),
            ),
          })),
        },
      },
    },
    async () => ({
      items: Object.entries(AFFILIATE_NETWORK_PRESETS).map(([name, p]) => ({
        name,
        label: p.label,
        clickIdToken: p.clickIdToken,
        payoutToken: p.payoutToken ?? null,
        txidToken: p.txidToken ?? null,
        statusToken: 'statusToken' in p ? p.statusToken : null,
      })),
    }),
  );

  entityRoutes<typeof trafficSources.$inferSelect>({
    path: '/traffic-sources',
    tag: 'traffic sources',
    kind: 'traffic-source',
    what: 'traffic source',
    noun: 'TrafficSource',
    table: trafficSources,
    create: TrafficSourceCreate,
    patch: TrafficSourcePatch,
    out: TrafficSourceOut,
    createDescription: 'Give `preset` (facebook, google, tiktok, taboola, outbrain, mgid, propellerads) to fill params from a known network.',
    present: async (rows) => rows.map(toTrafficSource),
    createFn: createTrafficSource,
    updateFn: updateTrafficSource,
  });
  entityRoutes<typeof affiliateNetworks.$inferSelect>({
    path: '/affiliate-networks',
    tag: 'affiliate networks',
    kind: 'affiliate-network',
    what: 'affiliate network',
    noun: 'AffiliateNetwork',
    table: affiliateNetworks,
    create: AffiliateNetworkCreate,
    patch: AffiliateNetworkPatch,
    out: AffiliateNetworkOut,
    createDescription:
      'Give `preset` (tune, hasoffers, cake, everflow, impact) or at least `clickIdToken`. The answer has `postbackUrl` to paste into the network. `postbackSecret` is returned in clear to admin keys (the owner needs it to configure the network); read-only keys get null and a `postbackUrl` without it.',
    present: async (rows, readOnly) => rows.map((r) => toAffiliateNetwork(r, deps, readOnly)),
    hidesSecrets: true,
    createFn: createAffiliateNetwork,
    updateFn: updateAffiliateNetwork,
  });
  entityRoutes<typeof offers.$inferSelect>({
    path: '/offers',
    tag: 'offers',
    kind: 'offer',
    what: 'offer',
    noun: 'Offer',
    table: offers,
    create: OfferCreate,
    patch: OfferPatch,
    out: OfferOut,
    listQuery: ListQuery.extend({ affiliateNetworkId: IdParam.shape.id.optional().describe("only this affiliate network's offers") }),
    listWhere: (q) => (q.affiliateNetworkId === undefined ? [] : [eq(offers.affiliateNetworkId, q.affiliateNetworkId as number)]),
    present: async (rows) => rows.map(toOffer),
    createFn: createOffer,
    updateFn: updateOffer,
  });
  entityRoutes<typeof landers.$inferSelect>({
    path: '/landers',
    tag: 'landers',
    kind: 'lander',
    what: 'lander',
    noun: 'Lander',
    table: landers,
    create: LanderCreate,
    patch: LanderPatch,
    out: LanderOut,
    present: async (rows) => rows.map((r) => toLander(r, deps)),
    createFn: createLander,
    updateFn: updateLander,
  });
  entityRoutes<typeof campaigns.$inferSelect>({
    path: '/campaigns',
    tag: 'campaigns',
    kind: 'campaign',
    what: 'campaign',
    noun: 'Campaign',
    table: campaigns,
    create: CampaignCreate,
    patch: CampaignPatch,
    out: CampaignOut,
    createConflict: 'The key given is already used by another campaign.',
    createDescription:
      'The answer has `trackingUrl` (give it to the traffic source) and `ctaUrl` (the call-to-action link for landers: /cta, or /cta/N for the Nth offer of a multi-offer lander). Edits reach /click on every instance within a second.',
    listQuery: ListQuery.extend({ trafficSourceId: IdParam.shape.id.optional().describe("only this traffic source's campaigns") }),
    listWhere: (q) => (q.trafficSourceId === undefined ? [] : [eq(campaigns.trafficSourceId, q.trafficSourceId as number)]),
    present: async (rows) => {
      const params = await paramsFor(ctx.db, rows);
      return rows.map((r) => toCampaign(r, params.get(r.trafficSourceId) ?? [], deps));
    },
    createFn: createCampaign,
    updateFn: updateCampaign,
  });
  app.post(
    '/campaigns/:id/clone',
    {
      schema: {
        tags: ['campaigns'],
        operationId: 'cloneCampaign',
        summary: 'Copy a campaign: same flow, cost and settings, a new key and tracking link',
        description: 'For a new ad account, geo or traffic source: optionally give the copy a name, a key or another trafficSourceId. The copy starts active.',
        params: IdParam,
        // Fastify validates a missing body as null (a POST with no body and no content type).
        body: CampaignClone.nullish(),
        response: {
          201: answer('The copy. The ETag header is its version.', CampaignOut),
          ...apiWriteErrors({ 404: 'No campaign has this id.', 409: 'The key given is already used by another campaign.' }, 404, 409),
        },
      },
    },
    async (req, reply) => {
      const original = (await getRow(ctx.db, campaigns, req.params.id, 'campaign')) as typeof campaigns.$inferSelect;
      const copy = await cloneCampaign(deps, original, req.body ?? {});
      const params = await paramsFor(ctx.db, [copy]);
      return reply.code(201).header('etag', etagOf('campaign', copy)).send(toCampaign(copy, params.get(copy.trafficSourceId) ?? [], deps));
    },
  );
};
