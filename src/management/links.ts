// The URLs a media buyer copies out of Tracklane: the campaign link for the ad network, the CTA
// link for landers, and the postback URL for the affiliate network.
import type { TrafficSourceParam } from '../db/schema.js';

/**
 * `PUBLIC_URL/click/KEY?name={token}&...`. Tokens stay as typed: the ad network must find its own
 * macro in the link to replace it, and percent-encoding `{{campaign.id}}` would hide it. Params
 * with an empty token are appended by the network itself (fbclid) and left out.
 */
export function trackingUrl(publicUrl: string, key: string, params: readonly TrafficSourceParam[]): string {
  const base = `${publicUrl}/click/${encodeURIComponent(key)}`;
  const query = params.filter((p) => p.token !== '').map((p) => `${p.name}=${p.token}`);
  return query.length ? `${base}?${query.join('&')}` : base;
}

/** Where a lander's call-to-action points; `/cta/N` picks the Nth offer slot of a multi-offer lander. */
export function ctaUrl(publicUrl: string): string {
  return `${publicUrl}/cta`;
}

/**
 * The links a lander's buttons carry: `/cta` for one offer slot, `/cta/1` ... `/cta/N` for a
 * multi-offer lander, so its builder copies them rather than work out the numbering.
 */
export function landerCtaUrls(publicUrl: string, offerCount: number): string[] {
  if (offerCount <= 1) return [ctaUrl(publicUrl)];
  return Array.from({ length: offerCount }, (_, i) => `${ctaUrl(publicUrl)}/${i + 1}`);
}

export interface NetworkPostbackMacros {
  clickIdToken: string | null;
  payoutToken: string | null;
  txidToken: string | null;
  statusToken: string | null;
  postbackSecret: string | null;
}

/**
 * `PUBLIC_URL/postback?cid={aff_sub}&payout={payout}&txid={transaction_id}...`: pasted into the
 * affiliate network, which replaces its macros. Macros are left raw for the same reason as in
 * trackingUrl; the secret is ours, so it is encoded.
 */
export function networkPostbackUrl(publicUrl: string, m: NetworkPostbackMacros): string {
  const parts = [`cid=${m.clickIdToken ?? '{clickid}'}`];
  if (m.payoutToken) parts.push(`payout=${m.payoutToken}`);
  if (m.txidToken) parts.push(`txid=${m.txidToken}`);
  if (m.statusToken) parts.push(`status=${m.statusToken}`);
  if (m.postbackSecret) parts.push(`secret=${encodeURIComponent(m.postbackSecret)}`);
  return `${publicUrl}/postback?${parts.join('&')}`;
}
