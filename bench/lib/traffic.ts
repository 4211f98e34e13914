// What the load generator sends: realistic campaign-link traffic with rotating user agents,
// client IPs (as X-Forwarded-For from the trusted loopback proxy) and traffic-source params.
// The IPs only ever appear inside a header; every connection goes to 127.0.0.1.

export const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67',
  'Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.118 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 [FBAN/EMA;FBLC/en_US;FBAV/406.0.0.11.115;]',
] as const;

export const LANGUAGES = ['en-US,en;q=0.9', 'de-DE,de;q=0.8,en;q=0.5', 'fr-FR,fr;q=0.9', 'es-ES,es;q=0.9', 'pt-BR,pt;q=0.9,en;q=0.5'];
export const PLACEMENTS = ['Facebook_Mobile_Feed', 'Instagram_Stories', 'Facebook_Right_Column', 'Audience_Network', 'Instagram_Feed'];

/** First octets of widely used public ranges, so the geo lookup sees a spread of countries. */
export const FIRST_OCTETS = [2, 5, 24, 31, 37, 41, 46, 62, 77, 81, 85, 89, 91, 103, 109, 151, 176, 185, 188, 201];

/** A deterministic, varied public IPv4 address for request number i. */
export function clientIp(i: number): string {
  const a = FIRST_OCTETS[i % FIRST_OCTETS.length];
  const x = (Math.imul(i + 1, 2654435761) >>> 0) % 16_777_216;
  return `${a}.${(x >> 16) & 255}.${(x >> 8) & 255}.${(x & 255) || 1}`;
}

/** The traffic-source params a Facebook-style campaign link carries (names match bench/seed.ts). */
export function clickQuery(i: number): string {
  const q = new URLSearchParams({
    campaign_id: String(23850000000 + (i % 7)),
    adset_id: String(23851000000 + (i % 31)),
    ad_id: String(23852000000 + (i % 97)),
    placement: PLACEMENTS[i % PLACEMENTS.length],
    site_source_name: i % 3 ? 'fb' : 'ig',
    fbclid: `IwAR${(i * 7919).toString(36)}x${i.toString(36)}`,
  });
  return q.toString();
}

export function clickHeaders(i: number): Record<string, string> {
  return {
    'user-agent': USER_AGENTS[i % USER_AGENTS.length],
    'x-forwarded-for': clientIp(i),
    'accept-language': LANGUAGES[i % LANGUAGES.length],
    referer: i % 4 ? 'https://m.facebook.com/' : 'https://www.instagram.com/',
  };
}

export function clickPath(key: string, i: number): string {
  return `/click/${encodeURIComponent(key)}?${clickQuery(i)}`;
}

/** A postback as an affiliate network sends it; txid unique per request so none is a duplicate. */
export function postbackPath(clickId: string, i: number): string {
  const q = new URLSearchParams({ cid: clickId, payout: (1 + (i % 50) / 10).toFixed(2), txid: `bench-${i}`, status: 'approved' });
  return `/postback?${q.toString()}`;
}

/** What a load job sends; plain data, so it crosses the IPC boundary to the generator process. */
export type TrafficPlan =
  | { kind: 'click'; key: string }
  | { kind: 'postback'; clickIds: string[] };

/** Request number i of a plan: path and headers. Postbacks use each click ID once, in order. */
export function planRequest(plan: TrafficPlan, i: number): { path: string; headers: Record<string, string> } {
  if (plan.kind === 'click') return { path: clickPath(plan.key, i), headers: clickHeaders(i) };
  const clickId = plan.clickIds[i % plan.clickIds.length];
  return { path: postbackPath(clickId, i), headers: { 'user-agent': 'AffiliateNetwork-Postback/1.0', 'x-forwarded-for': '198.18.0.10' } };
}
