// Who is visiting: IP, parsed user agent, country, language, referrer domain and the bot flag.
// Everything here is synchronous and cached where it repeats; a failed lookup leaves a field
// empty and never fails the request (a visit with no country is still a paid visit).
import { createRequire } from 'node:module';
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { isbot } from 'isbot';
import { LRUCache } from 'lru-cache';
import maxmind, { type Reader, type Response } from 'maxmind';
import UAParser from 'ua-parser-js';
import { cidrMatcher } from '../http/ip.js';

export interface UserAgentInfo {
  /** desktop, mobile, tablet, console, smarttv, wearable, embedded */
  device: string;
  os: string | null;
  osVersion: string | null;
  browser: string | null;
  browserVersion: string | null;
}

export interface Visitor extends UserAgentInfo {
  ip: string;
  userAgent: string;
  country: string | null;
  language: string | null;
  referrerDomain: string | null;
  isBot: boolean;
}

const cut = (v: string | undefined | null, max: number): string | null => (v ? v.slice(0, max) : null);

/** Operating systems that only run on phones and tablets: no device type there is not a desktop. */
const HANDHELD_OS = new Set(['android', 'ios', 'ipados', 'harmonyos', 'kaios', 'windows phone', 'blackberry', 'symbian']);

export function parseUserAgent(ua: string): UserAgentInfo {
  const r = new UAParser(ua).getResult();
  const os = r.os.name?.toLowerCase();
  return {
    // ua-parser-js names the type from the model or a Mobile/Tablet token; an app's webview or
    // SDK string (`Dalvik/2.1.0 (Linux; Android 11)`) may have neither.
    device: r.device.type?.toLowerCase() ?? (os && HANDHELD_OS.has(os) ? 'mobile' : 'desktop'),
    os: cut(os, 64),
    osVersion: cut(r.os.version, 32),
    browser: cut(r.browser.name?.toLowerCase(), 64),
    browserVersion: cut(r.browser.version, 32),
  };
}

/** `da, en-GB;q=0.8` -> `da`; the primary subtag of the first language, lower case. */
export function parseLanguage(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*/.exec(header);
  return m ? m[1].toLowerCase() : null;
}

/** `pt-BR,pt;q=0.9` -> `pt-br`: the first language with its region, lower case, for rules on a regional language. */
export function parseLanguageTag(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^\s*[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*/.exec(header);
  return m ? m[0].trim().toLowerCase() : null;
}

export function referrerDomain(header: string | undefined): string | null {
  if (!header) return null;
  try {
    const u = new URL(header);
    return u.protocol === 'http:' || u.protocol === 'https:' ? cut(u.hostname, 253) : null;
  } catch {
    return null;
  }
}

type GeoRecord = { country_code?: string; country?: { iso_code?: string }; registered_country?: { iso_code?: string } };

/** Both record shapes: ip-location-db (`country_code`) and MaxMind GeoLite2/GeoIP2 (`country.iso_code`). */
export function countryOf(record: GeoRecord | null | undefined): string | null {
  const code = record?.country_code ?? record?.country?.iso_code ?? record?.registered_country?.iso_code;
  return code && /^[A-Za-z]{2}$/.test(code) ? code.toUpperCase() : null;
}

function defaultGeoDbPath(): string {
  return createRequire(import.meta.url).resolve('@ip-location-db/geolite2-country-mmdb/geolite2-country.mmdb');
}

export interface VisitorResolverOptions {
  geoDbPath?: string;
  botIpDenylist?: readonly string[];
  uaCacheSize?: number;
  onGeoError?: (err: Error) => void;
}

export interface VisitorInput {
  ip: string;
  method: string;
  userAgent: string | undefined;
  acceptLanguage: string | undefined;
  referer: string | undefined;
}

export interface VisitorResolver {
  resolve(input: VisitorInput): Visitor;
  readonly geoDb: string | null;
}

/**
 * `::ffff:8.8.8.8` -> `8.8.8.8`. A server listening on `::` (HOST=::, dual stack) sees IPv4 visitors
 * as IPv4-mapped IPv6 addresses, which the geo database does not know (no country, no country rule)
 * and which would be stored and counted apart from the same visitor behind a proxy.
 */
export function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.', 7) ? ip.slice(7) : ip;
}

/** Opens the geo database once (start-up), then resolves visitors synchronously. */
export async function createVisitorResolver(opts: VisitorResolverOptions = {}): Promise<VisitorResolver> {
  const uaCache = new LRUCache<string, UserAgentInfo & { bot: boolean }>({ max: opts.uaCacheSize ?? 10_000 });
  const denied = cidrMatcher(opts.botIpDenylist ?? []);
  let reader: Reader<Response> | null = null;
  const path = opts.geoDbPath ?? defaultGeoDbPath();
  try {
    // watchForUpdates off: a reload is a restart; a file watcher per instance is not worth it.
    reader = await maxmind.open<Response>(path);
  } catch (err) {
    opts.onGeoError?.(err as Error);
  }
  // Referers repeat (a traffic source sends most visits from a few pages); parsing each with URL cost more than the lookup.
  const refererCache = new LRUCache<string, { domain: string | null }>({ max: 10_000 });
  const cachedReferrerDomain = (referer: string) => {
    let hit = refererCache.get(referer);
    if (!hit) {
      hit = { domain: referrerDomain(referer) };
      if (referer.length <= 512) refererCache.set(referer, hit);
    }
    return hit.domain;
  };
  return {
    geoDb: reader ? path : null,
    resolve(input) {
      const ip = plainIp(input.ip);
      let ua = input.userAgent ?? '';
      if (ua.length > 1024) ua = ua.slice(0, 1024);
      // NUL cannot be stored in Postgres text; no real browser sends it.
      if (ua.includes('\0')) ua = ua.replace(/\0/g, '');
      // One cache for the parse and the bot flag: one LRU lookup per visit instead of two.
      let info = uaCache.get(ua);
      if (!info) {
        info = { ...parseUserAgent(ua), bot: ua.trim() === '' || isbot(ua) };
        uaCache.set(ua, info);
      }
      const bot = info.bot;
      let country: string | null = null;
      if (reader) {
        try {
          country = countryOf(reader.get(ip) as GeoRecord | null);
        } catch (err) {
          // Not an IP maxmind understands (e.g. a unix socket in tests): no country, no failure.
          opts.onGeoError?.(err as Error);
        }
      }
      // Spelled out, not spread: a fixed object shape keeps this path cheap (measured: spreads cost ~5x).
      return {
        device: info.device,
        os: info.os,
        osVersion: info.osVersion,
        browser: info.browser,
        browserVersion: info.browserVersion,
        ip,
        userAgent: ua,
        country,
        language: parseLanguage(input.acceptLanguage),
        referrerDomain: input.referer ? cachedReferrerDomain(input.referer) : null,
        isBot: bot || input.method === 'HEAD' || denied(ip),
      };
    },
  };
}

// crypto.hash (Node >= 20.12) hashes in one call; createHash + update + digest built three
// objects per visit (~3% of /click's CPU). Same digest either way, so visitor IDs do not change.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** The visitor identity for unique-visit counting when there is no visitor cookie yet. */
export function visitorFingerprint(ip: string, userAgent: string): string {
  if (oneShotHash) return oneShotHash('sha256', `${ip}\0${userAgent}`, 'hex').slice(0, 24);
  return createHash('sha256').update(ip).update('\0').update(userAgent).digest('hex').slice(0, 24);
}
