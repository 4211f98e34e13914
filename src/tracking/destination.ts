// Where a visit is sent: the lander or offer URL with its {tokens} filled in, safely. Values are
// percent-encoded and only ever placed after the configured scheme and host, so no parameter can
// move the visitor to another host (no open redirect), and the result is plain ASCII, so nothing
// a visitor sends can put CR/LF or other invalid characters into the Location header.

const TOKEN_RE = /\{([^{}]*)\}/g;
/** Printable ASCII without space, quotes or angle brackets: what `URL.href` emits and a header accepts. */
const SAFE_LOCATION_RE = /^[\x21\x23-\x3b\x3d\x3f-\x7e]+$/;

export type TokenValues = (name: string) => string | null | undefined;

/** Percent-encodes everything but unreserved characters; lone surrogates become U+FFFD instead of throwing. */
export function encodeTokenValue(value: string): string {
  // String.prototype.toWellFormed is Node 20+, newer than the ES2023 lib types.
  const wellFormed = (value as string & { toWellFormed(): string }).toWellFormed();
  return encodeURIComponent(wellFormed).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function fillTokens(part: string, values: TokenValues): string {
  return part.replace(TOKEN_RE, (whole, name: string) => {
    const v = values(name.trim().toLowerCase().startsWith('var:') ? `var:${name.trim().slice(4)}` : name.trim().toLowerCase());
    // An unknown token stays as written (URL parsing percent-encodes its braces), so a typo shows.
    return v === undefined ? whole : encodeTokenValue(v ?? '');
  });
}

/** Splits `scheme://authority` from the rest; tokens are filled in the rest only. */
function splitOrigin(template: string): { origin: string; rest: string } | undefined {
  const m = /^\s*(https?:\/\/[^/?#\\]*)(.*)$/is.exec(template);
  return m ? { origin: m[1], rest: m[2] } : undefined;
}

export type Destination = { ok: true; url: string; host: string } | { ok: false; reason: 'invalid_url' | 'not_http' | 'host_changed' };

export function buildDestination(template: string, values: TokenValues): Destination {
  const parts = splitOrigin(template);
  if (!parts) return { ok: false, reason: 'not_http' };
  let configured: URL;
  let result: URL;
  try {
    configured = new URL(parts.origin);
    result = new URL(parts.origin + fillTokens(parts.rest, values));
  } catch {
    return { ok: false, reason: 'invalid_url' };
  }
  if (result.protocol !== 'http:' && result.protocol !== 'https:') return { ok: false, reason: 'not_http' };
  // Belt and braces: values are encoded so this cannot happen, but a redirect is checked, not trusted.
  if (result.host !== configured.host || result.username || result.password) return { ok: false, reason: 'host_changed' };
  const url = result.href;
  if (!SAFE_LOCATION_RE.test(url)) return { ok: false, reason: 'invalid_url' };
  return { ok: true, url, host: result.host };
}

/** A URL checked the same way, without tokens (a campaign's fallback URL). */
export function safeUrl(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  const d = buildDestination(raw, () => undefined);
  return d.ok ? d.url : undefined;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

/** A page that sends the browser on with a meta refresh (for sources that reject 302 chains). */
export function metaRefreshPage(url: string, opts: { noReferrer?: boolean } = {}): string {
  const u = escapeHtml(url);
  const referrer = opts.noReferrer ? '<meta name="referrer" content="no-referrer">' : '';
  return (
    `<!doctype html><html><head><meta charset="utf-8">${referrer}` +
    `<meta http-equiv="refresh" content="0;url=${u}"><title>Redirecting</title></head>` +
    `<body><a href="${u}">Continue</a></body></html>`
  );
}
