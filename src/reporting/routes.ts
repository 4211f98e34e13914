// /api/reports, /api/clicks, /api/conversions (GET), /api/campaigns/:id/stats and the cost update
// POST /api/campaigns/:id/costs: thin routes
// over report-query.ts and raw-logs.ts. See src/reporting/README.md for units and conventions.
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import type { Db } from '../db/client.js';
import { attributionFor } from '../attribution/service.js';
import { fitsMoney, isMoney } from '../attribution/decimal.js';
import { badRequest, conflict, notFound } from '../http/errors.js';
import { answer, apiReadErrors, apiWriteErrors } from '../http/answers.js';
import { setVisitCosts } from './cost-update.js';
import { startRollupDeltaFolder } from './rollup-deltas.js';
import { csvLine, reportCsv } from './csv.js';
import { decodeCursor, logColumns, readConversion, readLog, type LogKind } from './raw-logs.js';
import { resolveRange, runReport, type ReportRequest } from './report-query.js';
import {
  checkSort,
  checkTimeZone,
  dimensionFields,
  isVarDimension,
  METRICS,
  parseFilters,
  parseGroupBy,
  parseTimePoint,
  type Attribution,
} from './report-spec.js';

/** A campaign id in the path: an SQL integer, so a larger one is a 400, not a 500 from Postgres. */
const CampaignIdParam = z.object({ id: z.coerce.number().int().positive().max(2_147_483_647) });

const commaList = (what: string) => z.string().max(4000).optional().describe(`comma list of ${what}`);
const flag = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((v) => v === 'true' || v === '1');

/** A required time: "required" rather than zod's "expected string, received undefined" when left out. */
const timeParam = () =>
  z.string({ error: (issue) => (issue.input === undefined ? 'required (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])' : undefined) });

const common = {
  from: timeParam().describe('YYYY-MM-DD (inclusive, in tz) or a date-time (local in tz, or with Z/offset)'),
  to: timeParam().describe('YYYY-MM-DD (inclusive, in tz) or a date-time (exclusive)'),
  tz: z.string().max(64).optional().describe('IANA time zone; default ACCOUNT_TIMEZONE'),
  campaign: commaList('campaign ids'),
  offer: commaList('offer ids'),
  lander: commaList('lander ids'),
  trafficSource: commaList('traffic source ids'),
  affiliateNetwork: commaList('affiliate network ids'),
  country: commaList('ISO country codes'),
  device: commaList('device types'),
  os: commaList('operating systems'),
  browser: commaList('browsers'),
  language: commaList('language codes (en, pt)'),
  adset: commaList("ad sets (the traffic source's adset values, exact)"),
  ad: commaList('ads (exact)'),
  placement: commaList('placements (exact)'),
  externalId: commaList("the traffic source's click ids (gclid, fbclid...)"),
  includeBots: flag.describe('count visits flagged as bots (default false)'),
  format: z.enum(['json', 'csv']).default('json').describe('csv streams every row (no paging) as a download'),
};

/** Known parameters plus any `var:NAME` filter; anything else is a 400 naming it (a typo'd filter must not silently widen a report). */
function withVarFilters<T extends z.ZodRawShape>(shape: T) {
  return z
    .object(shape)
    .catchall(z.string().max(4000))
    .superRefine((q, ctx) => {
      for (const key of Object.keys(q)) {
        if (!(key in shape) && !isVarDimension(key)) ctx.addIssue({ code: 'custom', path: [key], message: `unknown parameter "${key}"` });
      }
    });
}

const ReportQuery = withVarFilters({
  ...common,
  groupBy: z.string().max(1000).optional().describe('comma list of dimensions (campaign, day, country, var:NAME...)'),
  attribution: z.enum(['visit', 'postback']).default('visit').describe('count conversions at the visit time or the postback time'),
  sort: z.string().max(100).optional().describe('a metric or a grouped dimension field'),
  order: z.enum(['asc', 'desc']).optional().describe('default desc when sort is given; without sort, the first time dimension ascending, else visits descending'),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1).describe('1-based page of rows (JSON only)'),
  pageSize: z.coerce.number().int().min(1).max(1000).default(100).describe('rows per page, at most 1000 (JSON only)'),
});

const logShape = {
  ...common,
  attribution: z.enum(['visit', 'postback']).default('postback').describe('conversion log only: range over the visit time or the postback time (the visit log always uses the visit time)'),
  cursor: z.string().max(400).optional().describe('nextCursor of the previous page'),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('rows per page, at most 1000 (JSON only)'),
};
const LogQuery = withVarFilters(logShape);
const ConversionLogQuery = withVarFilters({
  ...logShape,
  attributed: z.enum(['true', 'false']).default('true').describe('false lists postbacks not attributed to a click (pending_postbacks)'),
  status: z
    .string()
    .max(100)
    .optional()
    .describe('comma list of approved, pending, declined (e.g. declined: the chargebacks); default all'),
});

const CONVERSION_STATUSES = ['approved', 'pending', 'declined'];

function statusesOf(value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  const list = value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = list.find((s) => !CONVERSION_STATUSES.includes(s));
  if (bad !== undefined) throw badRequest('status', `status: "${bad}" is not a conversion status; expected approved, pending or declined`);
  return list;
}

const count = (description: string) => z.number().int().describe(description);
const money = (description: string) => z.string().describe(`${description}: decimal string with 6 decimals, in the account currency`);
const percent = (description: string) => z.number().describe(`${description}, in percent rounded to 4 decimals (0 when the denominator is 0)`);
/** The metrics of a row and of the totals (report-query.ts toRow: every one, always). */
const metricFields = {
  visits: count('visits (bots only with includeBots)'),
  uniqueVisits: count('first visits of a visitor to the campaign within UNIQUE_WINDOW_HOURS'),
  clicks: count('lander click-throughs (a visit without a lander counts as clicked)'),
  ctr: percent('clicks / visits'),
  conversions: count('approved conversions'),
  pendingConversions: count('pending conversions'),
  declinedConversions: count('declined conversions'),
  revenue: money('payout of the approved conversions'),
  cost: money('cost of the visits and of the approved conversions (cpa, revshare)'),
  profit: money('revenue - cost'),
  roi: percent('profit / cost'),
  cr: percent('conversions / visits'),
  epv: money('earnings per visit'),
  epc: money('earnings per click-through'),
  cpv: money('cost per visit'),
  cpa: money('cost per conversion'),
  conversionsByType: z.record(z.string(), z.number().int()).describe('approved conversions by conversion type'),
  revenueByType: z.record(z.string(), z.string()).describe('revenue by conversion type (decimal strings)'),
};
const ReportTotals = z.object(metricFields);
const id = (what: string) => z.number().int().nullable().optional().describe(`with groupBy=${what}; null for visits without one`);
const label = (description: string) => z.string().nullable().optional().describe(description);
/**
 * A row: the grouped dimensions' fields (only those of groupBy), then the metrics. `var:NAME`
 * dimensions add a field of that name (catchall).
 */
const ReportRow = z
  .object({
    campaignId: id('campaign'),
    campaignName: label('with groupBy=campaign'),
    trafficSourceId: id('trafficSource'),
    trafficSourceName: label('with groupBy=trafficSource'),
    offerId: id('offer'),
    offerName: label('with groupBy=offer'),
    landerId: id('lander'),
    landerName: label('with groupBy=lander'),
    affiliateNetworkId: id('affiliateNetwork'),
    affiliateNetworkName: label('with groupBy=affiliateNetwork'),
    ruleIndex: z.number().int().nullable().optional().describe('with groupBy=path: the flow rule (-1: the default paths)'),
    pathIndex: z.number().int().nullable().optional().describe('with groupBy=path: the path within the rule'),
    pathName: label('with groupBy=path: the path name, when the rows hold one campaign'),
    day: label('with groupBy=day: YYYY-MM-DD in tz'),
    hour: label('with groupBy=hour: YYYY-MM-DDTHH:00 in tz'),
    hourOfDay: z.number().int().nullable().optional().describe('with groupBy=hourOfDay: 0-23 in tz'),
    dayOfWeek: z.number().int().nullable().optional().describe('with groupBy=dayOfWeek: ISO weekday, 1 = Monday ... 7 = Sunday'),
    country: label('with groupBy=country: ISO 3166 code'),
    device: label('with groupBy=device'),
    os: label('with groupBy=os'),
    browser: label('with groupBy=browser'),
    language: label('with groupBy=language'),
    adset: label('with groupBy=adset'),
    ad: label('with groupBy=ad'),
    placement: label('with groupBy=placement'),
    externalId: label('with groupBy=externalId'),
    ...metricFields,
  })
  .catchall(z.unknown());
const ReportResponse = z.object({
  rows: z.array(ReportRow),
  totals: ReportTotals.describe('the metrics over every row (every page)'),
  page: z.number().int(),
  pageSize: z.number().int(),
  totalRows: z.number().int().describe('rows over every page'),
  currency: z.string().describe('ACCOUNT_CURRENCY: the currency of every money metric'),
  tz: z.string(),
  attribution: z.enum(['visit', 'postback']),
});

// The raw logs' rows (raw-logs.ts LOGS, nullable as their columns are). Money is a decimal string
// with 6 decimals, times are ISO 8601 UTC strings.
const time = (description: string) => z.string().describe(`${description} (ISO 8601, UTC)`);
const ref = (what: string) => z.number().int().nullable().describe(`the ${what}; null when the visit had none`);
const text = (description: string) => z.string().nullable().describe(description);
const Params = z.record(z.string(), z.string());
/** What a visit and a conversion of it share: the path, the visitor and the ad. */
const visitFields = {
  campaignId: z.number().int(),
  trafficSourceId: z.number().int(),
  ruleIndex: z.number().int().describe('the flow rule that served it (-1: the default paths)'),
  pathIndex: z.number().int().describe('the path within the rule'),
  landerId: ref('lander'),
  offerId: ref('offer'),
  affiliateNetworkId: ref("offer's affiliate network"),
  country: text('ISO 3166 code; null when unknown'),
  device: text('desktop, mobile, tablet, ...'),
  os: text('operating system'),
  browser: text('browser'),
  language: text('first Accept-Language code'),
  isBot: z.boolean(),
  tsCampaign: text("the traffic source's campaign (the param with role campaign)"),
  adset: text('the param with role adset'),
  ad: text('the param with role ad'),
  placement: text('the param with role placement'),
  externalId: text("the traffic source's click ID (gclid, fbclid...)"),
  params: Params.describe('the other query parameters of the visit'),
};
const VisitLogItem = z.object({
  clickId: z.string(),
  visitedAt: time('when the visit arrived'),
  ...visitFields,
  clicked: z.boolean().describe('went through to an offer (always true without a lander)'),
  isUnique: z.boolean(),
  cost: z.string().describe('decimal string with 6 decimals, in the account currency'),
  ip: text('the visitor address'),
  userAgent: text('User-Agent'),
  referrerDomain: text('the referrer host'),
});
const conversionFields = {
  id: z.number().int(),
  clickId: z.string(),
  type: z.string().describe('conversion type; default conversion'),
  txid: z.string().describe("the network's transaction ID; empty when it sent none"),
  status: z.enum(['approved', 'pending', 'declined']),
  payout: z.string().describe('decimal string with 6 decimals, in the account currency'),
  cost: z.string().describe('cost booked on the conversion (cpa, revshare): decimal string, account currency'),
  originalPayout: z.string().describe('the payout as sent, in originalCurrency'),
  originalCurrency: z.string(),
  visitedAt: time('when the visit arrived'),
  convertedAt: time('when the postback arrived'),
  updatedAt: time('the last status or payout change'),
  ...visitFields,
  postbackParams: Params.describe('the parameters of the postback, as received'),
};
const ConversionLogItem = z.object(conversionFields);
const PendingPostbackItem = z.object({
  id: z.number().int(),
  clickId: text('the click ID sent'),
  state: z.enum(['pending', 'attributed', 'unattributed', 'rejected']).describe('pending: retried until ATTRIBUTION_RETRY_MINUTES; then unattributed or rejected'),
  receivedAt: time('when it arrived'),
  attempts: z.number().int(),
  outcome: text('why it was not recorded, once it was given up'),
  sourceIp: text('the address it came from'),
  rawParams: Params.describe('the parameters as received'),
});
const ConversionDetail = z.object({
  ...conversionFields,
  history: z
    .array(z.object({ status: z.enum(['approved', 'pending', 'declined']), payout: z.string(), changedAt: time('when it changed') }))
    .describe('every status the conversion has had, oldest first'),
});
const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable().describe('give as `cursor` for the next page; null on the last') });
const logAnswer = <T extends z.ZodType>(description: string, json: T) => ({
  description: `${description}; with format=csv, every row as CSV.`,
  content: { 'application/json': { schema: json }, 'text/csv': { schema: z.string() } },
});

type Query = Record<string, string | boolean | number | undefined>;
const textQuery = (q: Query) => Object.fromEntries(Object.entries(q).map(([k, v]) => [k, typeof v === 'string' ? v : undefined]));

function filtersOf(q: Query) {
  const filters = parseFilters(textQuery(q));
  filters.includeBots = q.includeBots === true;
  return filters;
}

async function rangeOf(db: Db, q: Query, defaultTz: string) {
  const tz = checkTimeZone(typeof q.tz === 'string' && q.tz ? q.tz : defaultTz);
  const from = parseTimePoint('from', q.from as string);
  const to = parseTimePoint('to', q.to as string);
  return { tz, from, to, range: await resolveRange(db, from, to, tz) };
}

function sendCsv(reply: FastifyReply, filename: string, lines: AsyncIterable<string> | Iterable<string>) {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename}"`)
    .send(Readable.from(lines));
}

/**
 * How often the background fold runs. On Postgres every 5 s: a fold costs mostly one upsert per
 * distinct rollup row, which grows far slower than the deltas (src/reporting/README.md). Embedded
 * Postgres is one connection: a fold holds every other statement (visit inserts, postbacks,
 * reports) until it ends, so there it stays short and frequent. (It once ran on the answering
 * thread, where 5 s folds took the /click p99 from ~125 to ~220 ms; on the database's own thread,
 * db/embedded-thread.ts, 1 s and 5 s folds measured alike.)
 */
export const foldEveryMs = (ctx: Pick<AppContext, 'config' | 'database'>) => ctx.config.ROLLUP_FOLD_MS ?? (ctx.database.kind === 'postgres' ? 5000 : 1000);

export const reportingRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const everyMs = foldEveryMs(ctx);
  if (everyMs > 0) {
    const folds = startRollupDeltaFolder(ctx, everyMs);
    ctx.metrics.observe('counter', 'rollup_folds_total', 'Background folds of the report rollup deltas', () => folds.folds);
    ctx.metrics.observe('counter', 'rollup_fold_errors_total', 'Background folds that failed (the deltas stay for the next fold)', () => folds.errors);
  }

  app.get(
    '/reports',
    {
      schema: {
        tags: ['reports'],
        operationId: 'getReport',
        summary: 'Report: metrics grouped by dimensions over a date range (JSON or CSV)',
        description:
          'Money is a decimal string with 6 decimals (the storage scale, so totals equal the sum of rows exactly); ctr, cr and roi are percentages rounded to 4 decimals; a ratio with a zero denominator is 0. Filters: the listed parameters and var:NAME=a,b.',
        querystring: ReportQuery,
        response: {
          200: {
            description: 'One page of rows and the totals; with format=csv, every row as CSV (header X-Total-Rows).',
            content: { 'application/json': { schema: ReportResponse }, 'text/csv': { schema: z.string() } },
          },
          ...apiReadErrors(),
        },
      },
    },
    async (req, reply) => {
      const q = req.query as Query;
      const groupBy = parseGroupBy(q.groupBy as string | undefined);
      const sort = checkSort(q.sort as string | undefined, groupBy);
      const { tz, from, to, range } = await rangeOf(ctx.db, q, ctx.config.ACCOUNT_TIMEZONE);
      const csv = q.format === 'csv';
      const request: ReportRequest = {
        from,
        to,
        tz,
        groupBy,
        attribution: q.attribution as Attribution,
        filters: filtersOf(q),
        sort,
        order: q.order as 'asc' | 'desc' | undefined,
        page: csv ? 1 : (q.page as number),
        // A CSV export is every row; JSON is paged.
        pageSize: csv ? null : (q.pageSize as number),
      };
      const report = await runReport(ctx.db, request, range);
      if (csv) {
        const { header, lines } = reportCsv(report.rows, groupBy.flatMap(dimensionFields), METRICS);
        reply.header('x-total-rows', String(report.totalRows));
        return sendCsv(reply, 'report.csv', [csvLine(header), ...lines.map(csvLine)]);
      }
      // toRow (report-query.ts) builds every metric; its row type is looser than the schema's.
      type Row = z.output<typeof ReportRow>;
      return {
        rows: report.rows as Row[],
        totals: report.totals as Row,
        page: request.page,
        pageSize: q.pageSize as number,
        totalRows: report.totalRows,
        currency: ctx.config.ACCOUNT_CURRENCY,
        tz,
        attribution: request.attribution,
      };
    },
  );

  const logRoute = async (kind: LogKind, q: Query, reply: FastifyReply) => {
    const statuses = statusesOf(q.status);
    // Unattributed postbacks have no status yet: a status filter there would be silently ignored.
    if (statuses && kind === 'pendingPostbacks') throw badRequest('status', 'status: unattributed postbacks (attributed=false) have no conversion status');
    const filters = filtersOf(q);
    if (kind === 'pendingPostbacks') {
      // A postback that found no click has no campaign, country or ad: a filter on them would
      // be ignored, listing every unattributed postback as if they were that campaign's.
      const given = [...Object.keys(filters.ids), ...Object.keys(filters.texts), ...Object.keys(filters.raws), ...Object.keys(filters.vars).map((k) => `var:${k}`)];
      if (given.length) throw badRequest(given[0], `${given[0]}: unattributed postbacks (attributed=false) have no visit to filter on`);
    }
    const { range } = await rangeOf(ctx.db, q, ctx.config.ACCOUNT_TIMEZONE);
    const base = { kind, range, filters, attribution: q.attribution as Attribution, limit: q.limit as number, statuses };
    // Checked before the answer starts: once a CSV streams, an error can only cut it short (a 200
    // with a header and no rows, as if the log were empty).
    if (q.cursor) decodeCursor(q.cursor as string, kind);
    if (q.format !== 'csv') return readLog(ctx.db, { ...base, cursor: q.cursor as string | undefined });
    const columns = logColumns(kind);
    // Streams every row, one keyset page at a time, so an export never holds the log in memory.
    async function* lines() {
      yield csvLine(columns);
      let cursor = q.cursor as string | undefined;
      do {
        const page = await readLog(ctx.db, { ...base, limit: 1000, cursor });
        for (const item of page.items) yield csvLine(columns.map((c) => item[c]));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    return sendCsv(reply, `${kind}.csv`, lines());
  };

  app.get(
    '/clicks',
    {
      schema: {
        tags: ['reports'],
        operationId: 'listClicks',
        summary: 'Visit log (newest first, cursor-paged; CSV streams every row)',
        querystring: LogQuery,
        response: { 200: logAnswer('One page of visits', page(VisitLogItem)), ...apiReadErrors() },
      },
    },
    // Rows of raw SQL (untyped): the response schema is their check.
    async (req, reply) => logRoute('clicks', req.query as Query, reply) as never,
  );
  app.get(
    '/conversions',
    {
      schema: {
        tags: ['reports'],
        operationId: 'listConversions',
        summary: 'Conversion log; attributed=false lists postbacks not matched to a click',
        querystring: ConversionLogQuery,
        response: {
          200: logAnswer(
            'One page of conversions (items of the first shape), or with attributed=false of postbacks not matched to a click (the second)',
            z.union([page(ConversionLogItem), page(PendingPostbackItem)]),
          ),
          ...apiReadErrors(),
        },
      },
    },
    async (req, reply) => {
      const q = req.query as Query;
      return logRoute(q.attributed === 'false' ? 'pendingPostbacks' : 'conversions', q, reply) as never;
    },
  );

  app.get(
    '/conversions/:id',
    {
      schema: {
        tags: ['reports'],
        operationId: 'getConversion',
        summary: 'One conversion with its status history (every status it has had, oldest first)',
        params: z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) }),
        response: { 200: answer('The conversion, as in the conversion log, with its history.', ConversionDetail), ...apiReadErrors({ 404: 'No conversion has this id.' }, 404) },
      },
    },
    async (req) => {
      const conversion = await readConversion(ctx.db, req.params.id);
      if (!conversion) throw notFound('conversion');
      return conversion as never;
    },
  );

  app.get(
    '/campaigns/:id/stats',
    {
      schema: {
        tags: ['reports'],
        operationId: 'getCampaignStats',
        summary: "A campaign's totals over a date range (same metrics as a report row)",
        params: CampaignIdParam,
        // Strict, like the report's: a filter this route does not take (country=US) must not be
        // ignored silently, as if the summary were filtered.
        querystring: z.strictObject({
          from: common.from,
          to: common.to,
          tz: common.tz,
          attribution: z.enum(['visit', 'postback']).default('visit').describe('count conversions at the visit time or the postback time'),
          includeBots: common.includeBots,
        }),
        response: {
          200: answer(
            "The campaign's totals.",
            z.object({ campaignId: z.number().int(), currency: z.string(), tz: z.string(), attribution: z.enum(['visit', 'postback']), totals: ReportTotals }),
          ),
          ...apiReadErrors({ 404: 'No campaign has this id.' }, 404),
        },
      },
    },
    async (req) => {
      const q = req.query as Query;
      const found = await ctx.db.query.campaigns.findFirst({ where: (c, { eq }) => eq(c.id, req.params.id), columns: { id: true } });
      if (!found) throw notFound('campaign');
      const { tz, from, to, range } = await rangeOf(ctx.db, q, ctx.config.ACCOUNT_TIMEZONE);
      const filters = { ids: { campaign: [req.params.id] }, texts: {}, raws: {}, vars: {}, includeBots: q.includeBots === true };
      const report = await runReport(ctx.db, { from, to, tz, groupBy: [], attribution: q.attribution as Attribution, filters, page: 1, pageSize: 1 }, range);
      return { campaignId: req.params.id, currency: ctx.config.ACCOUNT_CURRENCY, tz, attribution: q.attribution as Attribution, totals: report.totals as z.output<typeof ReportTotals> };
    },
  );

  app.post(
    '/campaigns/:id/costs',
    {
      schema: {
        tags: ['reports'],
        operationId: 'setCampaignCost',
        summary: "Sets what a campaign spent over a time range: replaces its visits' cost (spread evenly over the human visits)",
        description:
          'For traffic sources that pass no cost in the link, or whose real spend differs from the bid: enter the spend from the ad network. ' +
          'It replaces the cost of every visit of the campaign in [from, to) (optionally of one ad set, ad or placement), spread evenly to the ' +
          'millionth so the visits add up to it exactly; bot visits in the range cost 0. Costs booked on conversions (cpa, revshare) stay. ' +
          "Visits still buffered on other instances are not included: enter a range that has ended.",
        params: CampaignIdParam,
        // Strict: a misspelt `adSet` ignored would put the ad set's spend on the whole campaign.
        body: z.strictObject({
          from: common.from,
          to: common.to,
          tz: common.tz,
          cost: z.union([z.string().max(40), z.number()]).describe('the amount spent, a decimal (in `currency`)'),
          // Any case, as offers and postbacks take it ("eur" from a spreadsheet is EUR).
          currency: z
            .string()
            .trim()
            .toUpperCase()
            .regex(/^[A-Z]{3}$/, 'expected an ISO 4217 currency code such as USD or EUR')
            .optional().describe('ISO 4217; default ACCOUNT_CURRENCY (other currencies need a rate in /api/currency-rates)'),
          adset: z.string().min(1).max(512).optional().describe("only the visits whose ad set (the traffic source's adset role) is this"),
          ad: z.string().min(1).max(512).optional().describe('only the visits of this ad'),
          placement: z.string().min(1).max(512).optional().describe('only the visits from this placement'),
        }),
        response: {
          200: answer(
            'The cost as set, over the visits it was spread on.',
            z.object({
              campaignId: z.number().int(),
              from: z.string().describe('the range start, ISO 8601 UTC'),
              to: z.string().describe('the range end (exclusive), ISO 8601 UTC'),
              cost: z.string().describe('the amount in the account currency (converted when given in another), decimal string'),
              currency: z.string().describe('ACCOUNT_CURRENCY'),
              visits: z.number().int().describe('human visits that carry it'),
            }),
          ),
          ...apiWriteErrors({ 404: 'No campaign has this id.', 409: 'The campaign has no human visits in the range to carry the cost; nothing was changed.' }, 404, 409),
        },
      },
    },
    async (req) => {
      const b = req.body;
      const found = await ctx.db.query.campaigns.findFirst({ where: (c, { eq }) => eq(c.id, req.params.id), columns: { id: true } });
      if (!found) throw notFound('campaign');
      const { range } = await rangeOf(ctx.db, { from: b.from, to: b.to, tz: b.tz }, ctx.config.ACCOUNT_TIMEZONE);
      const amount = String(b.cost);
      if (!isMoney(amount)) throw badRequest('cost', `cost: "${amount}" is not an amount (a plain decimal such as 125.40)`);
      const cost = await (await attributionFor(ctx)).rates.toAccount(amount, b.currency ?? ctx.config.ACCOUNT_CURRENCY);
      if (cost === undefined) throw badRequest('currency', `no rate is set for ${b.currency}; set one in /api/currency-rates`);
      if (!fitsMoney(cost)) throw badRequest('cost', `cost: ${cost} ${ctx.config.ACCOUNT_CURRENCY} is more than an amount can hold`);
      // This instance's buffered visits count too.
      await ctx.clickWriter?.flush();
      const update = { campaignId: req.params.id, from: new Date(range.from), to: new Date(range.to), cost, adset: b.adset, ad: b.ad, placement: b.placement };
      const visits = await setVisitCosts(ctx.db, update);
      if (visits === 0) throw conflict('the campaign has no visits (bots aside) in this range to carry the cost; nothing was changed', 'from');
      return { campaignId: update.campaignId, from: update.from.toISOString(), to: update.to.toISOString(), cost, currency: ctx.config.ACCOUNT_CURRENCY, visits };
    },
  );
};
