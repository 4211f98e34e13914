// Outbound HTTP for postback forwarding, with an SSRF guard: a traffic source's postback URL is
// user input, so it must not reach the tracker's own network (Redis, Postgres, cloud metadata).
// Only http(s); every address a host resolves to must be public unicast; each redirect hop is
// checked again; the socket connects to the address that was checked (no DNS rebinding window).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/** Why an address is refused, or null when it is a public unicast address. */
export function forbiddenAddressReason(address: string): string | null {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process() turns ::ffff:127.0.0.1 into 127.0.0.1, so a mapped address cannot sneak past.
    addr = ipaddr.process(address);
  } catch {
    return 'not an IP address';
  }
  const range = addr.range();
  // Everything ipaddr.js names (loopback, private, linkLocal, uniqueLocal, unspecified, multicast,
  // carrierGradeNat, reserved, 6to4, teredo, rfc6052...) is special; only plain unicast is public.
  return range === 'unicast' ? null : range;
}

/** How an address that forbiddenAddressReason refuses is named in an error an operator reads. */
const RANGE_WORDS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  linkLocal: 'a link-local address',
  uniqueLocal: 'a unique-local (private) address',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  carrierGradeNat: 'a carrier-grade NAT address',
  reserved: 'a reserved address',
  'not an IP address': 'not an IP address',
};

function describeRange(reason: string): string {
  return RANGE_WORDS[reason] ?? `a ${reason} address, not a public one`;
}

/**
 * The guard said no: the target is not allowed, so the same URL will be refused on every attempt
 * until the traffic source's postback URL or OUTBOUND_ALLOW_PRIVATE changes. Delivery gives up.
 */
export class OutboundRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboundRefused';
  }
}

/** Refuses anything but http(s) URLs; `base` resolves a relative redirect Location. */
export function checkOutboundUrl(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new OutboundRefused('not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundRefused(`scheme ${url.protocol} is not allowed (http and https only)`);
  if (url.username || url.password) throw new OutboundRefused('credentials in the URL are not allowed');
  return url;
}

export type Resolver = (host: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) => dnsLookup(host, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

/**
 * The addresses `host` may be contacted on: all of them must pass, since the connection could use
 * any (a name resolving to one public and one private address is refused).
 */
export async function resolveAllowed(
  host: string,
  allowPrivate: boolean,
  resolve: Resolver = systemResolver,
  policy: (address: string) => string | null = forbiddenAddressReason,
): Promise<LookupAddress[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const addresses = net.isIP(bare) ? [{ address: bare, family: net.isIP(bare) }] : await resolve(bare);
  // Not a refusal: an empty DNS answer may be fixed by the DNS (a name just created), so it is
  // retried like any other resolver error.
  if (addresses.length === 0) throw new Error(`${bare} does not resolve`);
  if (!allowPrivate) {
    for (const a of addresses) {
      const reason = policy(a.address);
      if (!reason) continue;
      const what = a.address === bare ? `${bare} is ${describeRange(reason)}` : `${bare} resolves to ${a.address}, ${describeRange(reason)}`;
      throw new OutboundRefused(`${what} (OUTBOUND_ALLOW_PRIVATE=1 allows private targets)`);
    }
  }
  return addresses;
}

export interface OutboundOptions {
  allowPrivate: boolean;
  timeoutMs: number;
  maxRedirects?: number;
  resolve?: Resolver;
  /** Why an address is refused (default forbiddenAddressReason); tests narrow it to tell loopback addresses apart. */
  policy?: (address: string) => string | null;
}

export interface OutboundResult {
  statusCode: number;
  /** The last answer's Retry-After header, as sent. */
  retryAfter?: string;
  /** Every URL requested, the first one included. */
  hops: string[];
}

/**
 * One request; settles as soon as the status line and headers are in. The body is never read:
 * waiting for its end let a target that trickles a byte a second (or streams forever) hold the
 * forwarding worker, and every delivery behind it, indefinitely (the socket `timeout` is an idle
 * timeout, reset by each byte). `timeoutMs` bounds the whole exchange.
 */
function requestOnce(url: URL, address: LookupAddress, timeoutMs: number, configuredMs = timeoutMs): Promise<{ statusCode: number; location?: string; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    // What is left of the whole attempt's time; the message names the setting.
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${configuredMs} ms`)), timeoutMs);
    const settle = <T>(fn: (v: T) => void) => (v: T) => {
      clearTimeout(timer);
      fn(v);
    };
    const req = mod.request(
      url,
      {
        method: 'GET',
        headers: { 'user-agent': 'Tracklane postback', accept: '*/*' },
        // Connect to the address that was checked, whatever the name resolves to now.
        lookup: (_host, opts, cb) => {
          if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: LookupAddress[]) => void)(null, [address]);
          else cb(null, address.address, address.family);
        },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        // The status is the answer; the body is not needed, so the connection (never reused:
        // agent false) is closed rather than drained.
        settle(resolve)({ statusCode: res.statusCode ?? 0, location: res.headers.location, retryAfter: res.headers['retry-after'] });
        res.on('error', () => undefined);
        res.destroy();
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${configuredMs} ms`)));
    req.on('error', settle(reject));
    req.end();
  });
}

/** A refusal at a redirect hop names the hop: the URL the user configured may look harmless. */
async function atRedirect<T>(target: string, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof OutboundRefused) throw new OutboundRefused(`redirect to ${target}: ${err.message}`);
    throw err;
  }
}

/** GETs `raw` through the guard, following up to `maxRedirects` redirects, each checked again. */
export async function guardedGet(raw: string, opts: OutboundOptions): Promise<OutboundResult> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const hops: string[] = [];
  let url = checkOutboundUrl(raw);
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    hops.push(url.toString());
    const resolveHop = () => resolveAllowed(url.hostname, opts.allowPrivate, opts.resolve, opts.policy);
    const [address] = hops.length > 1 ? await atRedirect(url.toString(), resolveHop) : await resolveHop();
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`timed out after ${opts.timeoutMs} ms`);
    const res = await requestOnce(url, address, remaining, opts.timeoutMs);
    if (res.statusCode >= 300 && res.statusCode < 400 && res.location) {
      const location = res.location;
      if (hops.length > maxRedirects) throw new OutboundRefused(`more than ${maxRedirects} redirects`);
      // checkOutboundUrl, not new URL: an unparsable Location is a refusal like a file: one.
      url = await atRedirect(location, () => checkOutboundUrl(location, url));
      continue;
    }
    return { statusCode: res.statusCode, hops, ...(res.retryAfter !== undefined ? { retryAfter: res.retryAfter } : {}) };
  }
}
