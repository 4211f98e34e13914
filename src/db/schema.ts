// The one drizzle schema: every table Tracklane keeps. Migrations under migrations/ are generated
// from this file by drizzle-kit (npm run db:generate -- --name what_changed).
import {
  bigint,
  bigserial,
  boolean,
  char,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  serial,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
/** Money is NUMERIC end to end (never a float): strings in JS, exact sums in SQL. */
const money = (name: string) => numeric(name, { precision: 18, scale: 6 });
/**
 * Sums of money (report rollups and their deltas). One payout may take all 12 digits of `money`,
 * so two in one bucket overflowed numeric(18, 6), and from then on every fold and every report
 * failed. 24 digits before the point hold a trillion such payouts. Widening a numeric's precision
 * at the same scale changes no stored value: Postgres alters it without rewriting the table.
 */
const moneySum = (name: string) => numeric(name, { precision: 30, scale: 6 });

/** Columns every managed entity shares: status for archive-instead-of-delete, version for ETags. */
const managed = {
  status: text('status').notNull().default('active'),
  version: integer('version').notNull().default(1),
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
};

// ---------------------------------------------------------------- access

export type ApiKeyScope = 'admin' | 'read';

export const apiKeys = pgTable('api_keys', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  /** sha256 of the key, hex; the key itself is shown once and never stored. */
  keyHash: char('key_hash', { length: 64 }).notNull().unique(),
  /** First characters of the key, so a user can tell keys apart in `apikey list`. */
  keyPrefix: varchar('key_prefix', { length: 16 }).notNull(),
  /** `admin` changes anything; `read` only reads (GET), and never the API keys: for reporting and optimisation tools. */
  scope: varchar('scope', { length: 8 }).$type<ApiKeyScope>().notNull().default('admin'),
  createdAt: tstz('created_at').notNull().defaultNow(),
  lastUsedAt: tstz('last_used_at'),
  revokedAt: tstz('revoked_at'),
});

// ---------------------------------------------------------------- campaign model

export type TrafficSourceParamRole = 'campaign' | 'adset' | 'ad' | 'placement' | 'cost' | 'externalId' | 'custom';
export interface TrafficSourceParam {
  name: string;
  token: string;
  role: TrafficSourceParamRole;
}

export const trafficSources = pgTable('traffic_sources', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  params: jsonb('params').$type<TrafficSourceParam[]>().notNull().default([]),
  postbackUrl: text('postback_url'),
  postbackStatuses: jsonb('postback_statuses').$type<string[]>().notNull().default(['approved']),
  /** The preset the params came from (facebook, google...), if any; informational. */
  preset: text('preset'),
  ...managed,
});

export const affiliateNetworks = pgTable('affiliate_networks', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  postbackSecret: text('postback_secret'),
  allowedIps: jsonb('allowed_ips').$type<string[]>().notNull().default([]),
  statusMap: jsonb('status_map').$type<Record<string, 'approved' | 'pending' | 'declined'>>().notNull().default({}),
  clickIdToken: text('click_id_token'),
  /** The network's macros for payout, transaction ID and status, used to build its postback URL. */
  payoutToken: text('payout_token'),
  txidToken: text('txid_token'),
  statusToken: text('status_token'),
  preset: text('preset'),
  ...managed,
});

export const offers = pgTable('offers', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  url: text('url').notNull(),
  payout: money('payout').notNull().default('0'),
  currency: char('currency', { length: 3 }).notNull(),
  affiliateNetworkId: integer('affiliate_network_id').references(() => affiliateNetworks.id),
  attributionWindowDays: integer('attribution_window_days').notNull().default(30),
  allowDuplicates: boolean('allow_duplicates').notNull().default(false),
  /** Conversions (approved or pending) per day in ACCOUNT_TIMEZONE; once reached, rotations skip the offer. */
  dailyCap: integer('daily_cap'),
  ...managed,
});

export const landers = pgTable('landers', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  url: text('url').notNull(),
  offerCount: integer('offer_count').notNull().default(1),
  ...managed,
});

export interface FlowWeighted {
  id: number;
  weight?: number;
}
export interface FlowPath {
  name?: string;
  weight?: number;
  landers?: FlowWeighted[];
  offers: FlowWeighted[];
}
export interface FlowRule {
  name?: string;
  when: {
    country?: string[];
    device?: string[];
    os?: string[];
    browser?: string[];
    language?: string[];
    param?: Record<string, string[]>;
    /** The visitor's address is in one of these CIDR ranges. */
    ip?: string[];
    /** The referrer's domain is one of these, or a subdomain of one. */
    referrer?: string[];
    /** Dayparting: the visit's local weekday (1 = Monday ... 7 = Sunday) and hour (0-23) in `tz`. */
    schedule?: { tz: string; days?: number[]; hours?: number[] };
  };
  paths: FlowPath[];
}
export interface Flow {
  rules: FlowRule[];
  paths: FlowPath[];
}

export const campaigns = pgTable('campaigns', {
  id: serial('id').primaryKey(),
  key: varchar('key', { length: 32 }).notNull().unique(),
  name: text('name').notNull(),
  trafficSourceId: integer('traffic_source_id')
    .notNull()
    .references(() => trafficSources.id),
  costModel: text('cost_model').notNull().default('none'),
  costValue: money('cost_value'),
  flow: jsonb('flow').$type<Flow>().notNull(),
  fallbackUrl: text('fallback_url'),
  redirectMode: text('redirect_mode').notNull().default('302'),
  forwardPostbacks: boolean('forward_postbacks').notNull().default(true),
  ...managed,
});

export const currencyRates = pgTable('currency_rates', {
  currency: char('currency', { length: 3 }).primaryKey(),
  /** How many units of ACCOUNT_CURRENCY one unit of `currency` is worth. */
  rate: numeric('rate', { precision: 24, scale: 12 }).notNull(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

// ---------------------------------------------------------------- tracking

/**
 * One row per visit to a campaign link. Written in batches by the click writer, never updated
 * on the hot path. The click ID is time-ordered, so the primary key index stays append-mostly;
 * BRIN on visited_at lets a date range skip the rest of the table.
 * Kept narrow (storage per million visits): the user agent lives once in `user_agents`, and a
 * query parameter taken by a traffic-source role is stored once, in its role column, with the
 * param names in `visit_param_roles` (read the whole set back with tracklane_visit_params()).
 */
export const visits = pgTable(
  'visits',
  {
    clickId: varchar('click_id', { length: 24 }).primaryKey(),
    visitedAt: tstz('visited_at').notNull(),
    campaignId: integer('campaign_id').notNull(),
    trafficSourceId: integer('traffic_source_id').notNull(),
    /** Which flow branch served it: rule index (-1 = default paths) and path index within it. */
    ruleIndex: smallint('rule_index').notNull().default(-1),
    pathIndex: smallint('path_index').notNull().default(0),
    pathName: text('path_name'),
    landerId: integer('lander_id'),
    offerId: integer('offer_id'),
    affiliateNetworkId: integer('affiliate_network_id'),
    // traffic-source params by role
    tsCampaign: text('ts_campaign'),
    tsAdset: text('ts_adset'),
    tsAd: text('ts_ad'),
    tsPlacement: text('ts_placement'),
    externalId: text('external_id'),
    /**
     * The visit's query parameters not stored in a role column above (the `var:NAME` dimension).
     * All of them are tracklane_visit_params(params, param_roles_hash, ts_campaign, ts_adset,
     * ts_ad, ts_placement, external_id); rows without param_roles_hash hold every parameter here.
     */
    params: jsonb('params').$type<Record<string, string>>().notNull().default({}),
    /** visit_param_roles.hash: which param names the role columns came from. */
    paramRolesHash: bigint('param_roles_hash', { mode: 'bigint' }),
    ip: text('ip'),
    /** user_agents.hash (the first 8 bytes of the UA's md5, signed). */
    userAgentHash: bigint('user_agent_hash', { mode: 'bigint' }),
    device: text('device'),
    os: text('os'),
    osVersion: text('os_version'),
    browser: text('browser'),
    browserVersion: text('browser_version'),
    country: char('country', { length: 2 }),
    language: varchar('language', { length: 8 }),
    referrerDomain: text('referrer_domain'),
    isBot: boolean('is_bot').notNull().default(false),
    isUnique: boolean('is_unique').notNull().default(false),
    cost: money('cost').notNull().default('0'),
  },
  (t) => [
    index('visits_visited_at_brin').using('brin', t.visitedAt),
    index('visits_campaign_visited_at_idx').on(t.campaignId, t.visitedAt),
  ],
);

/**
 * Each distinct user agent once: a few hundred bytes a visit otherwise. Keyed by a hash computed
 * by the writer (tracklane_text_hash() in SQL gives the same), so a batch needs no lookup.
 */
export const userAgents = pgTable('user_agents', {
  hash: bigint('hash', { mode: 'bigint' }).primaryKey(),
  userAgent: text('user_agent').notNull(),
});

/** Which query parameter each traffic-source role of a visit came from: {"campaign":"utm_campaign",...}. */
export const visitParamRoles = pgTable('visit_param_roles', {
  hash: bigint('hash', { mode: 'bigint' }).primaryKey(),
  names: jsonb('names').$type<Partial<Record<VisitParamRole, string>>>().notNull(),
});
export type VisitParamRole = 'campaign' | 'adset' | 'ad' | 'placement' | 'externalId';

/** Lander click-throughs (`/cta`): one row per visit and CTA slot; the first one counts as the visit's click. */
export const landerClicks = pgTable(
  'lander_clicks',
  {
    clickId: varchar('click_id', { length: 24 }).notNull(),
    slot: smallint('slot').notNull().default(1),
    clickedAt: tstz('clicked_at').notNull(),
    visitedAt: tstz('visited_at').notNull(),
    offerId: integer('offer_id'),
    campaignId: integer('campaign_id').notNull(),
  },
  (t) => [
    uniqueIndex('lander_clicks_click_slot_uq').on(t.clickId, t.slot),
    index('lander_clicks_clicked_at_brin').using('brin', t.clickedAt),
  ],
);

// ---------------------------------------------------------------- attribution

export type ConversionStatus = 'approved' | 'pending' | 'declined';

/**
 * A conversion copies its visit's dimensions, so reports in either registration-time mode
 * (visit time or postback time) need no join to visits.
 */
export const conversions = pgTable(
  'conversions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    clickId: varchar('click_id', { length: 24 }).notNull(),
    type: varchar('type', { length: 64 }).notNull().default('conversion'),
    /** '' when the network sent none, so the unique index also catches plain repeats. */
    txid: varchar('txid', { length: 128 }).notNull().default(''),
    status: text('status').$type<ConversionStatus>().notNull(),
    /** In ACCOUNT_CURRENCY. */
    payout: money('payout').notNull(),
    originalPayout: money('original_payout').notNull(),
    originalCurrency: char('original_currency', { length: 3 }).notNull(),
    /** Cost booked at conversion time (cpa / revshare campaigns), in ACCOUNT_CURRENCY. */
    cost: money('cost').notNull().default('0'),
    visitedAt: tstz('visited_at').notNull(),
    convertedAt: tstz('converted_at').notNull(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    /**
     * When the postback that set the current status was received, where that was before it was
     * recorded (a pending retry, a replay from the postback spill); null: at updatedAt. An older
     * postback applied late must not undo a newer status.
     */
    statusReceivedAt: tstz('status_received_at'),
    campaignId: integer('campaign_id').notNull(),
    trafficSourceId: integer('traffic_source_id').notNull(),
    offerId: integer('offer_id'),
    landerId: integer('lander_id'),
    affiliateNetworkId: integer('affiliate_network_id'),
    ruleIndex: smallint('rule_index').notNull().default(-1),
    pathIndex: smallint('path_index').notNull().default(0),
    pathName: text('path_name'),
    country: char('country', { length: 2 }),
    device: text('device'),
    os: text('os'),
    browser: text('browser'),
    language: varchar('language', { length: 8 }),
    isBot: boolean('is_bot').notNull().default(false),
    tsCampaign: text('ts_campaign'),
    tsAdset: text('ts_adset'),
    tsAd: text('ts_ad'),
    tsPlacement: text('ts_placement'),
    externalId: text('external_id'),
    params: jsonb('params').$type<Record<string, string>>().notNull().default({}),
    /** The postback's own parameters, as received. */
    postbackParams: jsonb('postback_params').$type<Record<string, string>>().notNull().default({}),
  },
  (t) => [
    uniqueIndex('conversions_click_type_txid_uq').on(t.clickId, t.type, t.txid),
    index('conversions_converted_at_idx').on(t.convertedAt),
    index('conversions_visited_at_idx').on(t.visitedAt),
  ],
);

export const conversionStatusHistory = pgTable(
  'conversion_status_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    // No foreign key: rows are written only by the conversions triggers (migrations 0003/0006), from
    // the rows of the same statement, and conversions are never deleted. The key's check per row
    // (a KEY SHARE lock on the new conversion) cost 4-8 us of the ~20 us a postback's insert takes
    // in Postgres (10,000-row statements, psql \timing; migration 0014).
    conversionId: bigint('conversion_id', { mode: 'number' }).notNull(),
    status: text('status').$type<ConversionStatus>().notNull(),
    payout: money('payout').notNull(),
    changedAt: tstz('changed_at').notNull().defaultNow(),
  },
  (t) => [index('conversion_status_history_conversion_idx').on(t.conversionId)],
);

/**
 * Postbacks whose click is not visible yet (another instance has not flushed it) or unknown.
 * Retried until ATTRIBUTION_RETRY_MINUTES, then left as `unattributed` with the raw parameters.
 */
export const pendingPostbacks = pgTable(
  'pending_postbacks',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    clickId: varchar('click_id', { length: 128 }),
    receivedAt: tstz('received_at').notNull().defaultNow(),
    rawParams: jsonb('raw_params').$type<Record<string, string>>().notNull(),
    sourceIp: text('source_ip'),
    /** How it arrived: 'postback', 'pixel' or 'upload' (uploads and pixels skip the network's secret/IP check). */
    source: text('source').$type<'postback' | 'pixel' | 'upload'>().notNull().default('postback'),
    /** sha256 of the secret presented with it (never the secret), checked when the click appears. */
    secretHash: char('secret_hash', { length: 64 }),
    state: text('state').$type<'pending' | 'attributed' | 'unattributed' | 'rejected'>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: tstz('next_attempt_at').notNull().defaultNow(),
    outcome: text('outcome'),
    conversionId: bigint('conversion_id', { mode: 'number' }),
  },
  (t) => [index('pending_postbacks_state_next_idx').on(t.state, t.nextAttemptAt)],
);

/** The durable queue of conversions to forward to traffic sources, and the log of every attempt. */
export const postbackDeliveries = pgTable(
  'postback_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    conversionId: bigint('conversion_id', { mode: 'number' }).notNull(),
    trafficSourceId: integer('traffic_source_id').notNull(),
    url: text('url').notNull(),
    /** pending: waiting for an attempt or a retry; delivered and failed are final. */
    state: text('state').$type<'pending' | 'delivered' | 'failed'>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** When the next attempt is due; null once there is none (delivered, or given up). */
    nextAttemptAt: tstz('next_attempt_at').defaultNow(),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    /** Every attempt ({ at, statusCode?, error? }) and every requeue ({ at, event: 'requeued', previousUrl }), oldest first. */
    log: jsonb('log').$type<{ at: string; statusCode?: number; error?: string; event?: 'requeued'; previousUrl?: string }[]>().notNull().default([]),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('postback_deliveries_state_next_idx').on(t.state, t.nextAttemptAt),
    uniqueIndex('postback_deliveries_conversion_status_uq').on(t.conversionId, t.url),
  ],
);

// ---------------------------------------------------------------- reporting

/**
 * Rollup dimensions. NULL ids and texts are stored as 0 and '' so the primary key can be the
 * upsert target on every Postgres. Two dimension sets keep the rollups small: set 1 (traffic:
 * offer, lander, network, path) and set 2 (visitor: device, os, browser, language); the other
 * set's columns hold the sentinels. Written only by the triggers in migrations (see
 * src/reporting/README.md), never by application code.
 */
const rollupDimensions = {
  /** 1 = traffic dimensions, 2 = visitor dimensions. */
  dimSet: smallint('dim_set').notNull(),
  /** Bucket width in minutes: 15, 60 or 1440 (UTC days). */
  grain: smallint('grain').notNull(),
  bucket: tstz('bucket').notNull(),
  campaignId: integer('campaign_id').notNull(),
  trafficSourceId: integer('traffic_source_id').notNull(),
  offerId: integer('offer_id').notNull(),
  landerId: integer('lander_id').notNull(),
  affiliateNetworkId: integer('affiliate_network_id').notNull(),
  ruleIndex: smallint('rule_index').notNull(),
  pathIndex: smallint('path_index').notNull(),
  country: varchar('country', { length: 2 }).notNull(),
  device: text('device').notNull(),
  os: text('os').notNull(),
  browser: text('browser').notNull(),
  language: varchar('language', { length: 8 }).notNull(),
  isBot: boolean('is_bot').notNull(),
};
const rollupKey = <T extends Record<keyof typeof rollupDimensions, unknown>>(t: T) =>
  [t.dimSet, t.grain, t.bucket, t.campaignId, t.trafficSourceId, t.offerId, t.landerId, t.affiliateNetworkId, t.ruleIndex, t.pathIndex, t.country, t.device, t.os, t.browser, t.language, t.isBot] as const;

/** Visits, unique visits, clicks and visit cost per bucket and dimensions (maintained by triggers). */
export const reportVisitRollup = pgTable(
  'report_visit_rollup',
  {
    ...rollupDimensions,
    visits: integer('visits').notNull(),
    uniqueVisits: integer('unique_visits').notNull(),
    clicks: integer('clicks').notNull(),
    cost: moneySum('cost').notNull(),
  },
  (t) => [primaryKey({ name: 'report_visit_rollup_pk', columns: [...rollupKey(t)] as never })],
);

/**
 * Visit sums not yet folded into report_visit_rollup: the visits and lander_clicks triggers append
 * each batch's 15-minute groups here (no index, no shared row), and src/reporting/rollup-deltas.ts
 * folds them every second and before every report. Upserting the rollup from every batch cost
 * Postgres more CPU than the batch's COPY (see src/reporting/README.md).
 */
const { dimSet: _dimSet, grain: _grain, ...visitDeltaDimensions } = rollupDimensions;
export const reportVisitDelta = pgTable('report_visit_delta', {
  ...visitDeltaDimensions,
  visits: integer('visits').notNull(),
  uniqueVisits: integer('unique_visits').notNull(),
  clicks: integer('clicks').notNull(),
  cost: moneySum('cost').notNull(),
});

/**
 * Conversions per bucket, dimensions, type and status, once keyed by the visit's time
 * (attribution 'visit') and once by the postback's time ('postback'). Maintained by triggers.
 */
export const reportConversionRollup = pgTable(
  'report_conversion_rollup',
  {
    attribution: text('attribution').$type<'visit' | 'postback'>().notNull(),
    ...rollupDimensions,
    type: varchar('type', { length: 64 }).notNull(),
    status: text('status').$type<ConversionStatus>().notNull(),
    conversions: integer('conversions').notNull(),
    payout: moneySum('payout').notNull(),
    cost: moneySum('cost').notNull(),
  },
  (t) => [primaryKey({ name: 'report_conversion_rollup_pk', columns: [t.attribution, ...rollupKey(t), t.type, t.status] as never })],
);

/**
 * Signed conversion changes not yet folded into report_conversion_rollup (+1 a row's arrival, -1
 * its old version's departure), appended by the conversions triggers. Append-only with no index,
 * so concurrent postback batches never wait on each other's rollup row locks; src/reporting/
 * conversion-deltas.ts folds it every second and before every report.
 */
export const reportConversionDelta = pgTable('report_conversion_delta', {
  sign: smallint('sign').notNull(),
  status: text('status').$type<ConversionStatus>().notNull(),
  payout: moneySum('payout').notNull(),
  cost: moneySum('cost').notNull(),
  type: varchar('type', { length: 64 }).notNull(),
  visitedAt: tstz('visited_at').notNull(),
  convertedAt: tstz('converted_at').notNull(),
  campaignId: integer('campaign_id').notNull(),
  trafficSourceId: integer('traffic_source_id').notNull(),
  offerId: integer('offer_id'),
  landerId: integer('lander_id'),
  affiliateNetworkId: integer('affiliate_network_id'),
  ruleIndex: smallint('rule_index').notNull(),
  pathIndex: smallint('path_index').notNull(),
  country: char('country', { length: 2 }),
  device: text('device'),
  os: text('os'),
  browser: text('browser'),
  language: varchar('language', { length: 8 }),
  isBot: boolean('is_bot').notNull(),
});
