// Fills a traffic source's postback URL template ({externalid}, {payout}, {var:NAME}...) for one
// conversion. Every value is URL-encoded, so a visit parameter cannot add query parameters, and
// tokens are filled after the scheme and host only (as on /click), so a visit parameter cannot
// choose the host a conversion is sent to; unknown tokens become empty rather than leaking a
// literal "{...}". Also the rule for whether a conversion is forwarded at all (forwardUrlFor),
// shared by recording a conversion and requeueing a failed forward.
import type { ConversionStatus } from '../db/schema.js';

export interface ForwardValues {
  clickId: string;
  externalId: string | null;
  payout: string;
  currency: string;
  txid: string;
  type: string;
  status: ConversionStatus;
  campaignId: number;
  campaignName: string | null;
  offerId: number | null;
  trafficSourceId: number;
  country: string | null;
  tsCampaign: string | null;
  tsAdset: string | null;
  tsAd: string | null;
  tsPlacement: string | null;
  params: Record<string, string>;
}

function tokenValue(name: string, v: ForwardValues): string {
  const lower = name.toLowerCase();
  if (lower.startsWith('var:')) {
    // Own parameters only: `{var:constructor}` must not read Object.prototype.
    const param = name.slice(4);
    return Object.hasOwn(v.params, param) ? (v.params[param] ?? '') : '';
  }
  switch (lower) {
    case 'externalid':
      return v.externalId ?? '';
    case 'clickid':
      return v.clickId;
    case 'payout':
    case 'revenue':
      return v.payout;
    case 'currency':
      return v.currency;
    case 'txid':
      return v.txid;
    case 'type':
      return v.type;
    case 'status':
      return v.status;
    case 'campaign.id':
      return String(v.campaignId);
    case 'campaign.name':
      return v.campaignName ?? '';
    case 'offer.id':
      return v.offerId === null ? '' : String(v.offerId);
    case 'trafficsource.id':
      return String(v.trafficSourceId);
    case 'country':
      return v.country ?? '';
    case 'ts.campaign':
      return v.tsCampaign ?? '';
    case 'adset':
      return v.tsAdset ?? '';
    case 'ad':
      return v.tsAd ?? '';
    case 'placement':
      return v.tsPlacement ?? '';
    default:
      return '';
  }
}

const TOKEN_RE = /\{([^{}]*)\}/g;
/** `scheme://authority` and the rest, as destination.ts splits a lander or offer URL. */
const ORIGIN_RE = /^\s*(https?:\/\/[^/?#\\]*)(.*)$/is;

/**
 * The template with every `{token}` after the host replaced by its URL-encoded value. A token in
 * the scheme or host stays as written, so the URL is refused when it is sent (an error on the
 * delivery) rather than sent to a host a visitor chose: `https://{var:zone}/pb` with
 * `zone=attacker.example` sent every conversion's payout and IDs there.
 */
export function fillPostbackUrl(template: string, values: ForwardValues): string {
  const m = ORIGIN_RE.exec(template);
  // Not http(s) (management refuses those): sent as written, and refused by the outbound guard.
  if (!m) return template;
  const [, origin, rest] = m;
  return origin + rest.replace(TOKEN_RE, (_m, name: string) => encodeURIComponent(tokenValue(name, values)));
}

/** The visit's side of the values: a click being attributed and a stored conversion both carry these. */
export type ForwardVisit = Pick<
  ForwardValues,
  'clickId' | 'externalId' | 'campaignId' | 'offerId' | 'trafficSourceId' | 'country' | 'tsCampaign' | 'tsAdset' | 'tsAd' | 'tsPlacement' | 'params'
>;

/** The conversion's side: what it is and what it pays (in `currency`) at the status being forwarded. */
export interface ForwardConversion {
  txid: string;
  type: string;
  status: ConversionStatus;
  payout: string;
}

/**
 * The URL a conversion at this status is forwarded to, or null when it is not forwarded: the
 * campaign turned forwarding off, the traffic source has no postbackUrl, or it does not ask for
 * this status. One function for both callers (recording, and requeueing a failed forward after
 * the template was fixed), so a requeued forward is exactly what a new conversion would send.
 */
export function forwardUrlFor(
  trafficSource: { postbackUrl: string | null; postbackStatuses: readonly string[] } | undefined,
  campaign: { forwardPostbacks: boolean; name: string } | undefined,
  visit: ForwardVisit,
  conversion: ForwardConversion,
  currency: string,
): string | null {
  if (campaign && !campaign.forwardPostbacks) return null;
  if (!trafficSource?.postbackUrl || !trafficSource.postbackStatuses.includes(conversion.status)) return null;
  return fillPostbackUrl(trafficSource.postbackUrl, {
    clickId: visit.clickId,
    externalId: visit.externalId,
    payout: conversion.payout,
    currency,
    txid: conversion.txid,
    type: conversion.type,
    status: conversion.status,
    campaignId: visit.campaignId,
    campaignName: campaign?.name ?? null,
    offerId: visit.offerId,
    trafficSourceId: visit.trafficSourceId,
    country: visit.country,
    tsCampaign: visit.tsCampaign,
    tsAdset: visit.tsAdset,
    tsAd: visit.tsAd,
    tsPlacement: visit.tsPlacement,
    params: visit.params,
  });
}
