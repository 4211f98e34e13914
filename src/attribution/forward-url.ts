// Fills a traffic source's postback URL template ({externalid}, {payout}, {var:NAME}...) for one
// conversion. Every value is URL-encoded, so a visit parameter cannot add query parameters or
// change the host; unknown tokens become empty rather than leaking a literal "{...}".
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
  if (lower.startsWith('var:')) return v.params[name.slice(4)] ?? '';
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

/** The template with every `{token}` replaced by its URL-encoded value. */
export function fillPostbackUrl(template: string, values: ForwardValues): string {
  return template.replace(/\{([^{}]*)\}/g, (_m, name: string) => encodeURIComponent(tokenValue(name, values)));
}
