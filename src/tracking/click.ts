// The two tracking requests as plain functions: a visit to a campaign link (/click) and a lander
// click-through (/cta). They decide the answer synchronously from in-memory config; recording
// (hot record, unique check, write-behind buffer) starts after the answer and is never awaited.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.js';
import type { FlowPath } from '../db/schema.js';
import type { CampaignCache, ResolvedCampaign, ResolvedLander, ResolvedOffer } from '../management/resolved-campaign.js';
import type { HotStore, SetAndClaim } from '../store/hot-store.js';
import { CLICK_ID_RE, type ClickIdGenerator } from './click-id.js';
import type { TrackingClickWriter } from './click-writer.js';
import { buildDestination, type TokenValues } from './destination.js';
import { DESTINATION_TOKENS } from './tokens.js';
import type { OfferCaps } from './offer-caps.js';
import { chooseFlow, chooseOffer, chooseWeighted, type FlowFacts, type Random } from './flow.js';
import { readStoredVisit } from './stored-visit.js';
import { hotClickKey, loadHotClick, saveHotClick, toHotClick, type HotClick, type HotVisitWriter, type VisitRow } from './hot-click.js';
import { parseLanguageTag, visitorFingerprint, type Visitor, type VisitorInput, type VisitorResolver } from './visitor.js';

export const CLICK_COOKIE = 'tlcid';
export const VISITOR_COOKIE = 'tlvid';
const VISITOR_ID_RE = /^[0-9a-f]{24}$/;
const MAX_PARAMS = 64;
const MAX_PARAM_NAME = 64;
const MAX_PARAM_VALUE = 512;
const DEFAULT_WINDOW_DAYS = 30;
const NUL_RE = /\0/g;

/** Visits and click-throughs answered, and side effects that did not happen as they should, by reason; exposed on /api/tracking/status and /api/metrics. */
export interface TrackingCounters {
  visits: number;
  landerClicks: number;
  hotRecordFailed: number;
  uniqueCheckFailed: number;
  uniqueCheckTimedOut: number;
  geoLookupFailed: number;
  destinationRejected: Record<string, number>;
  ctaUnknownClick: number;
}

export const newCounters = (): TrackingCounters => ({
  visits: 0,
  landerClicks: 0,
  hotRecordFailed: 0,
  uniqueCheckFailed: 0,
  uniqueCheckTimedOut: 0,
  geoLookupFailed: 0,
  destinationRejected: {},
  ctaUnknownClick: 0,
});

export interface TrackingDeps {
  campaigns: CampaignCache;
  store: HotStore;
  db: Db;
  writer: TrackingClickWriter;
  /** Writes the visit down after the answer: here (localVisitRecorder) or on the recording thread. */
  recorder: VisitRecorder;
  visitors: VisitorResolver;
  ids: ClickIdGenerator;
  random: Random;
  now: () => Date;
  log: FastifyBaseLogger;
  counters: TrackingCounters;
  uniqueWindowHours: number;
  /** Signs the second hop of a double meta refresh, so /dm is not an open redirect. */
  signingSecret: string;
  /** Offers at their daily cap; without it no cap applies. */
  offerCaps?: OfferCaps;
}

export interface CookieToSet {
  name: string;
  value: string;
  maxAgeSeconds: number;
}

export type Answer =
  | { kind: 'not_found'; message: string }
  | { kind: 'redirect'; url: string; mode: ResolvedCampaign['redirectMode']; cookies: CookieToSet[] };

export type Query = Record<string, string | string[] | undefined>;

/**
 * Query parameters as single strings, bounded so one visit cannot become a huge row. Past
 * MAX_PARAMS only the traffic source's own parameters are still taken: networks append their click
 * ID last (gclid, fbclid), and losing it to a long URL would lose the conversion's way back.
 */
export function visitParams(query: Query, sourceParams: readonly { name: string }[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  // for-in and the NUL/length checks before copying: Object.entries built an array per parameter,
  // and slice + replace ran on every value although almost none is long or holds a NUL.
  for (const name in query) {
    if (n >= MAX_PARAMS) {
      if (sourceParams.length === 0) break;
      if (!sourceParams.some((p) => p.name === name)) continue;
    }
    if (!Object.hasOwn(query, name)) continue;
    const raw = query[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined || name.length === 0 || name.length > MAX_PARAM_NAME) continue;
    // Postgres text and jsonb cannot hold NUL; nothing a tracker needs is lost without it.
    const cutValue = value.length > MAX_PARAM_VALUE ? value.slice(0, MAX_PARAM_VALUE) : value;
    out[name.includes('\0') ? name.replace(NUL_RE, '') : name] = cutValue.includes('\0') ? cutValue.replace(NUL_RE, '') : cutValue;
    n++;
  }
  return out;
}

const DECIMAL_RE = /^\d{1,12}(\.\d{1,12})?$/;

/** `2.5` / 1000 = `0.0025`, exactly, on strings (money is never a float). */
export function divideBy1000(value: string): string {
  const [int, frac = ''] = value.split('.');
  const digits = int.padStart(4, '0') + frac;
  const point = digits.length - frac.length - 3;
  const out = `${digits.slice(0, point)}.${digits.slice(point)}`.replace(/^0+(?=\d)/, '').replace(/\.?0+$/, '');
  return out === '' ? '0' : out;
}

export function visitCost(campaign: Pick<ResolvedCampaign, 'costModel' | 'costValue'>, costParam: string | null): string {
  switch (campaign.costModel) {
    case 'auto': {
      // Some sources send `.05`: the same decimal as 0.05.
      const v = costParam?.trim().replace(/^\./, '0.');
      return v && DECIMAL_RE.test(v) ? v : '0';
    }
    case 'cpc':
      return campaign.costValue && DECIMAL_RE.test(campaign.costValue) ? campaign.costValue : '0';
    case 'cpm':
      return campaign.costValue && DECIMAL_RE.test(campaign.costValue) ? divideBy1000(campaign.costValue) : '0';
    default:
      // cpa and revshare are booked at conversion time by attribution.
      return '0';
  }
}

interface TokenContext {
  clickId: string;
  campaign: ResolvedCampaign;
  offer: ResolvedOffer | undefined;
  lander: ResolvedLander | undefined;
  ip: string;
  country: string | null;
  device: string | null;
  os: string | null;
  osVersion: string | null;
  browser: string | null;
  browserVersion: string | null;
  language: string | null;
  externalId: string | null;
  cost: string;
  tsCampaign: string | null;
  tsAdset: string | null;
  tsAd: string | null;
  tsPlacement: string | null;
  params: Record<string, string>;
}

function tokenValues(t: TokenContext): TokenValues {
  return (name) => {
    if (name.startsWith('var:')) {
      // Own parameters only: `{var:constructor}` or `{var:toString}` read Object.prototype (a 500) otherwise.
      const param = name.slice(4);
      return Object.hasOwn(t.params, param) ? t.params[param] : '';
    }
    switch (name) {
      case 'clickid': return t.clickId;
      case 'campaign.id': return String(t.campaign.id);
      case 'campaign.name': return t.campaign.name;
      case 'campaign.key': return t.campaign.key;
      case 'offer.id': return t.offer ? String(t.offer.id) : '';
      case 'offer.name': return t.offer?.name ?? '';
      case 'lander.id': return t.lander ? String(t.lander.id) : '';
      case 'lander.name': return t.lander?.name ?? '';
      case 'trafficsource.id': return String(t.campaign.trafficSource.id);
      case 'trafficsource.name': return t.campaign.trafficSource.name;
      case 'country': return t.country;
      case 'device': return t.device;
      case 'os': return t.os;
      case 'osversion': return t.osVersion;
      case 'browser': return t.browser;
      case 'browserversion': return t.browserVersion;
      case 'language': return t.language;
      case 'ip': return t.ip;
      case 'externalid': return t.externalId;
      case 'cost': return t.cost;
      case 'ts.campaign': return t.tsCampaign;
      case 'adset': return t.tsAdset;
      case 'ad': return t.tsAd;
      case 'placement': return t.tsPlacement;
      default: return undefined;
    }
  };
}

/** A fallback with nothing known about the request: every token Tracklane knows is empty. */
const NO_TOKENS: TokenValues = (name) => (name.startsWith('var:') || (DESTINATION_TOKENS as readonly string[]).includes(name) ? '' : undefined);

type FallbackVisitor = Pick<TokenContext, 'ip' | 'country' | 'device' | 'os' | 'osVersion' | 'browser' | 'browserVersion' | 'language'>;

/**
 * The tokens of an answer that records no visit (a fallback URL, or the default offer of a
 * click-through whose visit is unknown): what the request tells (campaign, traffic source,
 * visitor, parameters, the offer chosen) is filled; there is no click ID or lander, and tokens
 * with no value are empty, never `{clickid}` as written.
 */
function fallbackTokens(campaign: ResolvedCampaign, visitor: FallbackVisitor, params: Record<string, string>, offer?: ResolvedOffer): TokenValues {
  const byRole: Partial<Record<string, string>> = {};
  for (const p of campaign.trafficSource.params) if (params[p.name] !== undefined && byRole[p.role] === undefined) byRole[p.role] = params[p.name];
  const values = tokenValues({
    ...visitor,
    clickId: '',
    campaign,
    offer,
    lander: undefined,
    externalId: byRole.externalId ?? null,
    cost: '0',
    tsCampaign: byRole.campaign ?? null,
    tsAdset: byRole.adset ?? null,
    tsAd: byRole.ad ?? null,
    tsPlacement: byRole.placement ?? null,
    params,
  });
  return (name) => values(name) ?? NO_TOKENS(name);
}

function fallback(deps: TrackingDeps, campaign: ResolvedCampaign, reason: string, tokens: TokenValues = NO_TOKENS): Answer {
  const d = campaign.fallbackUrl ? buildDestination(campaign.fallbackUrl, tokens) : undefined;
  if (d?.ok) return { kind: 'redirect', url: d.url, mode: '302', cookies: [] };
  deps.log.warn({ campaign: campaign.key, reason }, 'campaign has nowhere to send the visit');
  return { kind: 'not_found', message: 'campaign has no destination' };
}

function countRejected(deps: TrackingDeps, reason: string) {
  deps.counters.destinationRejected[reason] = (deps.counters.destinationRejected[reason] ?? 0) + 1;
}

export interface ClickRequest {
  key: string;
  query: Query;
  visitor: VisitorInput;
  cookies: Record<string, string | undefined>;
}

export interface ClickResult {
  answer: Answer;
  /** Starts the recording; the route calls it once the answer is on its way. */
  record?: () => void;
}

/**
 * A /click answer and the visit it records. A class rather than `{ answer, record: () => ... }`:
 * the closure per visit (wrapped by tsx's keepNames in a defineProperty call) was measurable.
 */
class ClickOutcome implements ClickResult {
  constructor(
    readonly answer: Answer,
    private readonly deps: TrackingDeps,
    private readonly visit: VisitRow,
    private readonly visitorId: string,
    private readonly windowDays: number,
  ) {}

  /** Counts the visit and hands it to the recorder (this thread's or the recording thread). */
  record(): void {
    this.deps.counters.visits++;
    this.deps.recorder.record(this.visit, this.visitorId, this.windowDays);
  }
}

const NO_FACTS: FlowFacts = Object.freeze({ country: null, device: null, os: null, browser: null, language: null, params: {} });

export function handleClick(deps: TrackingDeps, req: ClickRequest): ClickResult {
  const campaign = deps.campaigns.byKey(req.key);
  if (!campaign || campaign.status === 'archived') return { answer: { kind: 'not_found', message: 'unknown campaign' } };
  if (campaign.status === 'paused') {
    // The visitor is read only when the fallback URL has tokens to fill.
    const tokens = campaign.fallbackUrl?.includes('{') ? fallbackTokens(campaign, deps.visitors.resolve(req.visitor), visitParams(req.query, campaign.trafficSource.params)) : NO_TOKENS;
    return { answer: fallback(deps, campaign, 'paused', tokens) };
  }

  const visitor = deps.visitors.resolve(req.visitor);
  const params = visitParams(req.query, campaign.trafficSource.params);
  const byRole: Partial<Record<string, string>> = {};
  const paramRoles: Partial<Record<string, string>> = {};
  for (const p of campaign.trafficSource.params) {
    const value = params[p.name];
    // An empty value (`placement=`, the network had none) is no value: stored as "", reports would
    // show it as a placement of its own beside the visits without one.
    if (value !== undefined && value !== '' && byRole[p.role] === undefined) {
      byRole[p.role] = value;
      paramRoles[p.role] = p.name;
    }
  }
  const visitedAt = deps.now();
  // Only rules read the facts; most campaigns have none, and then no object is built per visit.
  const facts = campaign.flow.rules?.length
    ? { country: visitor.country, device: visitor.device, os: visitor.os, browser: visitor.browser, language: visitor.language, languageTag: parseLanguageTag(req.visitor.acceptLanguage), params, at: visitedAt, ip: visitor.ip, referrerDomain: visitor.referrerDomain }
    : NO_FACTS;
  const choice = chooseFlow(campaign.flow, facts, deps.random, deps.offerCaps?.capped());
  if (!choice) return { answer: fallback(deps, campaign, 'no path', fallbackTokens(campaign, visitor, params)) };
  const offer = choice.offerId !== null ? campaign.offers.get(choice.offerId) : undefined;
  const lander = choice.landerId !== null ? campaign.landers.get(choice.landerId) : undefined;
  const target = lander?.url ?? offer?.url;
  if (!target) return { answer: fallback(deps, campaign, 'path has no lander or offer', fallbackTokens(campaign, visitor, params)) };

  const clickId = deps.ids.next();
  const cost = visitCost(campaign, byRole.cost ?? null);
  const visit: VisitRow = {
    clickId,
    visitedAt,
    campaignId: campaign.id,
    trafficSourceId: campaign.trafficSource.id,
    ruleIndex: choice.ruleIndex,
    pathIndex: choice.pathIndex,
    pathName: choice.path.name ?? null,
    landerId: lander?.id ?? null,
    offerId: offer?.id ?? null,
    affiliateNetworkId: offer?.affiliateNetworkId ?? null,
    tsCampaign: byRole.campaign ?? null,
    tsAdset: byRole.adset ?? null,
    tsAd: byRole.ad ?? null,
    tsPlacement: byRole.placement ?? null,
    externalId: byRole.externalId ?? null,
    params,
    // Lets the click writer store those parameters once, in their role columns.
    paramRoles,
    ip: visitor.ip,
    userAgent: visitor.userAgent || null,
    device: visitor.device,
    os: visitor.os,
    osVersion: visitor.osVersion,
    browser: visitor.browser,
    browserVersion: visitor.browserVersion,
    country: visitor.country,
    language: visitor.language,
    referrerDomain: visitor.referrerDomain,
    isBot: visitor.isBot,
    isUnique: false,
    cost,
  };
  const destination = buildDestination(
    target,
    tokenValues({
      clickId,
      campaign,
      offer,
      lander,
      ip: visitor.ip,
      country: visitor.country,
      device: visitor.device,
      os: visitor.os,
      osVersion: visitor.osVersion,
      browser: visitor.browser,
      browserVersion: visitor.browserVersion,
      language: visitor.language,
      externalId: visit.externalId ?? null,
      cost,
      tsCampaign: visit.tsCampaign ?? null,
      tsAdset: visit.tsAdset ?? null,
      tsAd: visit.tsAd ?? null,
      tsPlacement: visit.tsPlacement ?? null,
      params,
    }),
  );
  if (!destination.ok) {
    countRejected(deps, destination.reason);
    return { answer: fallback(deps, campaign, `destination ${destination.reason}`, fallbackTokens(campaign, visitor, params)) };
  }

  const windowDays = offer?.attributionWindowDays ?? DEFAULT_WINDOW_DAYS;
  const knownVisitor = req.cookies[VISITOR_COOKIE];
  const visitorId = knownVisitor && VISITOR_ID_RE.test(knownVisitor) ? knownVisitor : visitorFingerprint(visitor.ip, visitor.userAgent);
  const cookies: CookieToSet[] = [{ name: CLICK_COOKIE, value: clickId, maxAgeSeconds: windowDays * 86400 }];
  if (visitorId !== knownVisitor) cookies.push({ name: VISITOR_COOKIE, value: visitorId, maxAgeSeconds: deps.uniqueWindowHours * 3600 });

  return new ClickOutcome({ kind: 'redirect', url: destination.url, mode: campaign.redirectMode, cookies }, deps, visit, visitorId, windowDays);
}

/** How a visit is written down once answered: its hot record and unique claim, then its row. */
export interface VisitRecorder {
  record(visit: VisitRow, visitorId: string, windowDays: number): void;
}

/** The hot record (for the attribution window) and the unique-visit claim of a visit, as one store entry. */
function visitHotEntry(visit: VisitRow, visitorId: string, windowDays: number, uniqueWindowHours: number): SetAndClaim {
  return {
    key: hotClickKey(visit.clickId),
    value: JSON.stringify(toHotClick(visit)),
    ttlSeconds: windowDays * 86400,
    claimKey: `uniq:${visit.campaignId}:${visitorId}`,
    claimTtlSeconds: uniqueWindowHours * 3600,
  };
}

/**
 * Records on the calling thread: the row waits for the store's answer; the writer buffers it
 * anyway if the answer is late (counted as uniqueCheckTimedOut), and a late answer then changes nothing.
 */
export function localVisitRecorder(writer: TrackingClickWriter, hotWrites: HotVisitWriter, uniqueWindowHours: number): VisitRecorder {
  return {
    record(visit, visitorId, windowDays) {
      writer.hold(visit);
      hotWrites.add(visit.clickId, visitHotEntry(visit, visitorId, windowDays, uniqueWindowHours));
    },
  };
}

/** What happens to a visit once the store answered (or failed) for its hot record and unique check. */
export function hotVisitWriterOptions(deps: Pick<TrackingDeps, 'writer' | 'counters' | 'log'>) {
  return {
    onClaimed: (clickId: string, first: boolean) => deps.writer.release(clickId, first),
    onFailed: (clickIds: readonly string[], err: Error) => {
      deps.counters.hotRecordFailed += clickIds.length;
      deps.counters.uniqueCheckFailed += clickIds.length;
      deps.log.debug({ err: err.message, visits: clickIds.length }, 'hot click records not saved and unique check failed; attribution will read postgres');
      // Unknown: counted unique rather than hiding a new visitor; the counter says how often.
      for (const id of clickIds) deps.writer.release(id, true);
    },
  };
}

// ---------------------------------------------------------------- lander click-through

export interface CtaRequest {
  slot: number | undefined;
  cid: string | undefined;
  campaignKey: string | undefined;
  cookies: Record<string, string | undefined>;
  /** The click-through's request: the same browser as the visit, a moment later. */
  visitor: VisitorInput;
}

function pathOf(campaign: ResolvedCampaign, click: Pick<HotClick, 'ruleIndex' | 'pathIndex'>): FlowPath | undefined {
  const paths = click.ruleIndex >= 0 ? campaign.flow.rules[click.ruleIndex]?.paths : campaign.flow.paths;
  return paths?.[click.pathIndex];
}

/** The visit behind a click ID: this instance's buffer, then the hot store, then Postgres. */
export async function findClick(deps: Pick<TrackingDeps, 'writer' | 'store' | 'db'>, clickId: string): Promise<HotClick | null> {
  const buffered = await deps.writer.peek(clickId);
  if (buffered) return toHotClick(buffered);
  const hot = await loadHotClick(deps.store, clickId);
  if (hot) return hot;
  try {
    // Read back whole: the row keeps role parameters (adset_id, gclid...) in their columns only,
    // and {var:NAME} in the offer URL needs them (hot record expired or lost, Redis down, restart).
    const row = await readStoredVisit(deps.db, clickId);
    return row ? toHotClick(row) : null;
  } catch {
    return null;
  }
}

export async function handleCta(deps: TrackingDeps, req: CtaRequest): Promise<ClickResult> {
  const cid = req.cid ?? req.cookies[CLICK_COOKIE];
  const click = cid && CLICK_ID_RE.test(cid) ? await findClick(deps, cid) : null;
  const campaign = click ? deps.campaigns.byId(click.campaignId) : undefined;
  const visitor = deps.visitors.resolve(req.visitor);
  if (!click || !campaign) {
    deps.counters.ctaUnknownClick++;
    const byKey = req.campaignKey ? deps.campaigns.byKey(req.campaignKey) : undefined;
    if (!byKey || byKey.status === 'archived') return { answer: { kind: 'not_found', message: 'unknown click' } };
    // As /click would: a paused campaign sends no one to its offers.
    if (byKey.status === 'paused') return { answer: fallback(deps, byKey, 'paused', fallbackTokens(byKey, visitor, {})) };
    return { answer: defaultOfferAnswer(deps, byKey, visitor) };
  }

  const path = pathOf(campaign, click);
  const slot = req.slot ?? 1;
  // Slot n of a multi-offer lander is the path's nth offer; otherwise the offer chosen at the visit.
  const slotOfferId = req.slot !== undefined && path && path.offers.length > 1 ? path.offers[req.slot - 1]?.id : undefined;
  let offerId = slotOfferId ?? click.offerId;
  // The visit's offer was chosen when the visitor landed; if it reached its daily cap while they
  // read the lander, the click-through goes to an open offer of the path, as /click would now.
  const capped = deps.offerCaps?.capped();
  if (slotOfferId === undefined && offerId !== null && path && capped?.has(offerId)) {
    const open = chooseOffer(path.offers, deps.random, capped);
    if (open !== null && !capped.has(open)) offerId = open;
  }
  const offer = campaign.offers.get(offerId ?? -1);
  const lander = click.landerId !== null ? campaign.landers.get(click.landerId) : undefined;
  // The visit's own facts, and from this request what the hot record does not keep.
  const clickTokens = (o: ResolvedOffer | undefined) =>
    tokenValues({ ...click, ip: visitor.ip, osVersion: visitor.osVersion, browserVersion: visitor.browserVersion, campaign, offer: o, lander, cost: click.cost ?? '0', params: click.params ?? {} });
  // The visit is recorded, so its fallback gets the click ID (and everything else but the offer).
  const withoutOffer = clickTokens(undefined);
  const clickFallbackTokens: TokenValues = (name) => withoutOffer(name) ?? NO_TOKENS(name);
  if (!offer) return { answer: fallback(deps, campaign, 'no offer for the click-through', clickFallbackTokens) };
  const destination = buildDestination(offer.url, clickTokens(offer));
  if (!destination.ok) {
    countRejected(deps, destination.reason);
    return { answer: fallback(deps, campaign, `destination ${destination.reason}`, clickFallbackTokens) };
  }
  const now = deps.now();
  return {
    answer: { kind: 'redirect', url: destination.url, mode: campaign.redirectMode, cookies: [] },
    record: () => {
      deps.counters.landerClicks++;
      deps.writer.addLanderClick({ clickId: click.clickId, slot, clickedAt: now, visitedAt: new Date(click.visitedAt), offerId: offer.id, campaignId: campaign.id });
      // The lander click refreshes the hot record (and its offer, when a slot picked another one).
      const hot: HotClick = { ...click, offerId: offer.id, affiliateNetworkId: offer.affiliateNetworkId };
      saveHotClick(deps.store, hot, offer.attributionWindowDays * 86400).catch((err: Error) => {
        deps.counters.hotRecordFailed++;
        deps.log.debug({ err: err.message, clickId: click.clickId }, 'hot click record not refreshed');
      });
    },
  };
}

function defaultOfferAnswer(deps: TrackingDeps, campaign: ResolvedCampaign, visitor: FallbackVisitor): Answer {
  const paths = campaign.flow.paths;
  const pi = chooseWeighted(paths, deps.random);
  // Offers at their daily cap are skipped here too, as /click skips them.
  const offerId = pi >= 0 ? chooseOffer(paths[pi].offers, deps.random, deps.offerCaps?.capped()) : null;
  const offer = offerId !== null ? campaign.offers.get(offerId) : undefined;
  const tokens = fallbackTokens(campaign, visitor, {});
  if (!offer) return fallback(deps, campaign, 'no default offer', tokens);
  const destination = buildDestination(offer.url, fallbackTokens(campaign, visitor, {}, offer));
  if (!destination.ok) {
    countRejected(deps, destination.reason);
    return fallback(deps, campaign, `destination ${destination.reason}`, tokens);
  }
  return { kind: 'redirect', url: destination.url, mode: campaign.redirectMode, cookies: [] };
}

// ---------------------------------------------------------------- double meta refresh

export function signRedirect(secret: string, url: string): string {
  return createHmac('sha256', secret).update(url).digest('base64url').slice(0, 32);
}

export function verifyRedirect(secret: string, url: string, sig: string): boolean {
  const expected = Buffer.from(signRedirect(secret, url));
  const given = Buffer.from(sig);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
