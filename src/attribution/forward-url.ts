// Fills a traffic source's postback URL template ({externalid}, {payout}, {var:NAME}...) for one
// conversion. Every value is URL-encoded, so a visit parameter cannot add query parameters, and
// tokens are filled after the scheme and host only (as on /click), so a visit parameter cannot
// choose the host a conversion is sent to; unknown tokens become empty rather than leaking a
// literal "{...}".
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
