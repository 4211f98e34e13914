// The {tokens} users may put in URLs. Management validates URLs against these lists (an unknown
// token is a 400, so a typo is caught when the offer is saved, not when traffic is lost).

/** Tokens in lander and offer URLs, filled at /click and /cta. `{var:NAME}` is any visit parameter. */
export const DESTINATION_TOKENS = [
  'clickid',
  'campaign.id',
  'campaign.name',
  'campaign.key',
  'offer.id',
  'offer.name',
  'lander.id',
  'lander.name',
  'trafficsource.id',
  'trafficsource.name',
  'country',
  'device',
  'os',
  'osversion',
  'browser',
  'browserversion',
  'language',
  'ip',
  'externalid',
  'cost',
  'adset',
  'ad',
  'placement',
  'ts.campaign',
] as const;

/** Tokens in a traffic source's postback URL, filled when a conversion is forwarded. */
export const POSTBACK_TOKENS = [
  'externalid',
  'clickid',
  'payout',
  'revenue',
  'currency',
  'txid',
  'type',
  'status',
  'campaign.id',
  'campaign.name',
  'offer.id',
  'trafficsource.id',
  'country',
  'adset',
  'ad',
  'placement',
  'ts.campaign',
] as const;

const TOKEN_RE = /\{([^{}]*)\}/g;
const VAR_RE = /^var:[A-Za-z0-9_.\-[\]]{1,64}$/;

/** The `{...}` tokens in a URL template that are not in `known` (and not a valid `{var:NAME}`). */
export function unknownTokens(template: string, known: readonly string[]): string[] {
  const bad: string[] = [];
  for (const m of template.matchAll(TOKEN_RE)) {
    const name = m[1];
    if (!known.includes(name.toLowerCase()) && !VAR_RE.test(name)) bad.push(`{${name}}`);
  }
  return bad;
}
