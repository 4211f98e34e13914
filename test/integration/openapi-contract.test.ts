// The OpenAPI document as a client generator reads it, checked against real answers: every field
// an answer carries is declared (with its type, nullability and enum), every required one is sent,
// every status answered is documented; and each operation has an operationId, tags, a summary and
// the right security (none for the public links).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

type Schema = Record<string, any>;
type Spec = { paths: Record<string, Record<string, Schema>>; components?: { schemas?: Record<string, Schema> }; security?: unknown[] };

/** Where `value` departs from `schema` (the OpenAPI 3.0 subset the document uses); a field not declared is a problem. */
export function nonConformities(spec: Spec, schema: Schema, value: unknown, at = '$'): string[] {
  if (schema.$ref) return nonConformities(spec, spec.components!.schemas![String(schema.$ref).split('/').pop()!], value, at);
  if (value === null) return schema.nullable === true || Object.keys(schema).length === 0 ? [] : [`${at}: null, not declared nullable`];
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (schema[key]) {
      const tries = (schema[key] as Schema[]).map((branch) => nonConformities(spec, branch, value, at));
      if (tries.some((t) => t.length === 0)) return [];
      return tries.reduce((best, t) => (t.length < best.length ? t : best));
    }
  }
  if (schema.allOf) return (schema.allOf as Schema[]).flatMap((part) => nonConformities(spec, part, value, at));
  const problems: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at}: ${JSON.stringify(value)} not in enum ${JSON.stringify(schema.enum)}`);
  const kind = Array.isArray(value) ? 'array' : typeof value;
  switch (schema.type) {
    case undefined:
      break;
    case 'object': {
      if (kind !== 'object') return [`${at}: ${kind}, declared object`];
      const record = value as Record<string, unknown>;
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      for (const name of schema.required ?? []) if (!(name in record)) problems.push(`${at}.${name}: declared required, not sent`);
      for (const [name, v] of Object.entries(record)) {
        if (properties[name]) problems.push(...nonConformities(spec, properties[name], v, `${at}.${name}`));
        else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') problems.push(...nonConformities(spec, schema.additionalProperties, v, `${at}.${name}`));
        else if (schema.additionalProperties !== true) problems.push(`${at}.${name}: sent, not declared`);
      }
      break;
    }
    case 'array':
      if (kind !== 'array') return [`${at}: ${kind}, declared array`];
      (value as unknown[]).forEach((item, i) => problems.push(...nonConformities(spec, schema.items ?? {}, item, `${at}[${i}]`)));
      break;
    case 'integer':
      if (!Number.isInteger(value)) problems.push(`${at}: ${JSON.stringify(value)}, declared integer`);
      break;
    case 'number':
      if (kind !== 'number') problems.push(`${at}: ${JSON.stringify(value)}, declared number`);
      break;
    case 'string':
      if (kind !== 'string') problems.push(`${at}: ${JSON.stringify(value)}, declared string`);
      else if (schema.format === 'date-time' && Number.isNaN(Date.parse(value as string))) problems.push(`${at}: "${value}", declared date-time`);
      break;
    case 'boolean':
      if (kind !== 'boolean') problems.push(`${at}: ${JSON.stringify(value)}, declared boolean`);
      break;
    default:
      problems.push(`${at}: unknown type ${schema.type}`);
  }
  return problems;
}

/** The documented path a request matched: a literal segment wins over a parameter (/presets over /{id}). */
function templateOf(spec: Spec, method: string, url: string): string | undefined {
  const path = url.split('?')[0];
  const matches = Object.keys(spec.paths).filter(
    (p) => spec.paths[p][method] && new RegExp(`^${p.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path),
  );
  return matches.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0))[0];
}

// Both backends: PGlite must hand the raw-SQL rows (reports, logs) back with the same types as pg.
describe.each(BACKENDS)('OpenAPI document against real answers (%s)', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let spec: Spec;
  /** operationId -> statuses answered and checked */
  const checked = new Map<string, Set<number>>();

  /** Calls the app and checks the answer against the operation's documented answer for its status. */
  async function call(method: string, url: string, opts: { body?: unknown; headers?: Record<string, string>; key?: string | null } = {}) {
    const headers = { ...(opts.key === null ? {} : authHeaders(opts.key)), ...opts.headers };
    const res = await t.app.inject({ method: method as 'GET', url, headers, ...(opts.body === undefined ? {} : { payload: opts.body as object }) });
    const template = templateOf(spec, method.toLowerCase(), url);
    expect(template, `${method} ${url} is documented`).toBeDefined();
    const op = spec.paths[template!][method.toLowerCase()];
    const documented = op.responses[String(res.statusCode)];
    expect(documented, `${method} ${url}: status ${res.statusCode} (${res.body.slice(0, 200)}) is documented`).toBeDefined();
    const mediaType = String(res.headers['content-type'] ?? '').split(';')[0];
    if (res.statusCode === 204 || res.statusCode === 302) {
      expect(documented.content, `${method} ${url}: a ${res.statusCode} documents no body`).toBeUndefined();
    } else {
      expect(Object.keys(documented.content ?? {}), `${method} ${url}: ${mediaType} is documented for ${res.statusCode}`).toContain(mediaType);
      if (mediaType === 'application/json') {
        expect(nonConformities(spec, documented.content[mediaType].schema, res.json()), `${method} ${url} ${res.statusCode}`).toEqual([]);
      }
    }
    const seen = checked.get(op.operationId) ?? new Set<number>();
    checked.set(op.operationId, seen.add(res.statusCode));
    return res;
  }
  const operations = () => Object.entries(spec.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));

  beforeAll(async () => {
    t = await setupTestApp(backend, { env: { OUTBOUND_ALLOW_PRIVATE: '1' } });
    spec = (await t.app.inject('/openapi.json')).json();
  });
  afterAll(async () => t?.close());

  it('gives every operation a unique operationId, tags and a summary', () => {
    const ids = operations().map(({ op }) => op.operationId);
    // /api/metrics is registered in src/http/metrics.ts, which does not name its operation yet.
    const named = operations().filter(({ path }) => path !== '/api/metrics');
    for (const { path, method, op } of named) {
      expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.tags?.length, `${method} ${path}`).toBe(1);
      expect(op.summary, `${method} ${path}`).toBeTruthy();
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(spec.paths['/api/offers'].get.operationId).toBe('listOffers');
    expect(spec.paths['/api/campaigns/{id}'].patch.operationId).toBe('updateCampaign');
    expect(spec.paths['/api/reports'].get.operationId).toBe('getReport');
  });

  it('finds a field sent but not declared, a null not declared nullable, a wrong type and a missing field', () => {
    const offer = spec.paths['/api/offers/{id}'].get.responses['200'].content['application/json'].schema;
    const sent = { id: 1, name: 'O', url: 'https://o.test/', payout: '1', currency: 'USD', affiliateNetworkId: null, attributionWindowDays: 30, allowDuplicates: false, dailyCap: null, status: 'active', version: 1, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };
    expect(nonConformities(spec, offer, sent)).toEqual([]);
    const { version: _version, ...withoutVersion } = sent;
    expect(nonConformities(spec, offer, { ...withoutVersion, payout: 1, name: null, extra: true })).toEqual([
      '$.version: declared required, not sent',
      '$.name: null, not declared nullable',
      '$.payout: 1, declared string',
      '$.extra: sent, not declared',
    ]);
  });

  it('asks for the API key on /api routes and for none on the public links', () => {
    expect(spec.security).toEqual([{ apiKey: [] }, { bearer: [] }]);
    const publicPaths = ['/click/{key}', '/visit/{key}', '/cta', '/cta/{n}', '/track.js', '/dm', '/postback', '/pixel.gif', '/pixel.js'];
    for (const { path, method, op } of operations()) {
      if (publicPaths.includes(path)) expect(op.security, `${method} ${path}`).toEqual([]);
      else {
        expect(path.startsWith('/api/'), path).toBe(true);
        expect(op.security, `${method} ${path} inherits the document's security`).toBeUndefined();
        // /api/metrics: src/http/metrics.ts declares no answers yet.
        if (path === '/api/metrics') continue;
        expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['400', '401', '503']));
        if (method !== 'get' || path.startsWith('/api/api-keys')) expect(Object.keys(op.responses), `${method} ${path}`).toContain('403');
      }
    }
  });

  it('declares the fields every answer carries, with their types, for a sample of real calls', async () => {
    const admin = (await call('POST', '/api/api-keys', { body: { name: 'contract' } })).json().key as string;
    const readKey = (await call('POST', '/api/api-keys', { body: { name: 'bot', scope: 'read' } })).json().key as string;
    await call('GET', '/api/api-keys');
    const revocable = (await call('POST', '/api/api-keys', { body: { name: 'old' } })).json().id as number;
    await call('DELETE', `/api/api-keys/${revocable}`);
    await call('DELETE', `/api/api-keys/${revocable}`); // 404

    await call('GET', '/api/traffic-sources/presets');
    await call('GET', '/api/affiliate-networks/presets');
    const ts = (await call('POST', '/api/traffic-sources', { body: { name: 'FB', preset: 'facebook', postbackUrl: 'http://127.0.0.1:9/pb?c={externalid}' } })).json();
    const network = (await call('POST', '/api/affiliate-networks', { body: { name: 'Net', preset: 'impact', postbackSecret: 'secret-123' } })).json();
    await call('GET', `/api/affiliate-networks/${network.id}`, { key: readKey }); // postbackSecret null for a read key
    const offer = (await call('POST', '/api/offers', { body: { name: 'O', url: 'https://offer.test/?c={clickid}', payout: '2.5', affiliateNetworkId: network.id, dailyCap: 100 } })).json();
    const lander = (await call('POST', '/api/landers', { body: { name: 'L', url: 'https://lander.test/', offerCount: 2 } })).json();
    const flow = {
      rules: [{ name: 'us', when: { country: ['US'], ip: ['10.0.0.0/8'], schedule: { days: [1, 2] } }, paths: [{ offers: [{ id: offer.id }] }] }],
      paths: [{ name: 'main', landers: [{ id: lander.id }], offers: [{ id: offer.id, weight: 2 }] }],
    };
    const campaign = (await call('POST', '/api/campaigns', { body: { name: 'C', key: 'contract1', trafficSourceId: ts.id, cost: { model: 'cpc', value: '0.1' }, flow } })).json();
    await call('POST', '/api/campaigns', { body: { name: 'C', key: 'contract1', trafficSourceId: ts.id, flow } }); // 409
    const direct = (await call('POST', '/api/campaigns', { body: { name: 'D', trafficSourceId: ts.id, flow: { paths: [{ offers: [{ id: offer.id }] }] } } })).json();
    await call('POST', `/api/campaigns/${campaign.id}/clone`, { body: { name: 'copy' } });
    for (const [path, id] of [['traffic-sources', ts.id], ['affiliate-networks', network.id], ['offers', offer.id], ['landers', lander.id], ['campaigns', campaign.id]] as const) {
      await call('GET', `/api/${path}?pageSize=5`);
      await call('GET', `/api/${path}/${id}`);
      await call('PATCH', `/api/${path}/${id}`, { body: { name: `renamed ${path}` } });
      await call('PATCH', `/api/${path}/${id}`, { body: { name: 'stale' }, headers: { 'if-match': '"stale-1-v1"' } }); // 412
      await call('GET', `/api/${path}/999999`); // 404
      await call('GET', `/api/${path}/0`); // 400
      await call('POST', `/api/${path}`, { body: { name: 'x' }, key: readKey }); // 403
    }
    const archived = (await call('POST', '/api/landers', { body: { name: 'gone', url: 'https://lander.test/2' } })).json();
    await call('DELETE', `/api/landers/${archived.id}`);
    await call('GET', '/api/offers', { key: null }); // 401

    await call('PUT', '/api/currency-rates/EUR', { body: { rate: '1.085' } });
    await call('POST', '/api/currency-rates', { body: { currency: 'GBP', rate: 1.25 } });
    await call('GET', '/api/currency-rates');
    await call('DELETE', '/api/currency-rates/GBP');

    const ua = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36' };
    await call('GET', '/click/contract1?campaign_id=5&adset_id=a1&ad_id=ad1&placement=feed&fbclid=fb1&sub=x', { key: null, headers: ua });
    await call('GET', '/click/nope', { key: null, headers: ua });
    const visit = (await call('GET', `/visit/${direct.key}?campaign_id=6&fbclid=fb2`, { key: null, headers: ua })).json();
    await call('GET', '/visit/nope', { key: null });
    const first = (await call('GET', '/visit/contract1?campaign_id=7', { key: null, headers: ua })).json();
    await call('GET', `/cta/1?cid=${first.clickId}`, { key: null, headers: ua });
    await call('GET', '/cta?cid=unknown', { key: null });
    await call('GET', `/cta?cid=${first.clickId}`, { key: null, headers: ua });
    await call('PATCH', `/api/campaigns/${direct.id}`, { body: { redirectMode: 'doubleMeta' } });
    const page = await call('GET', `/click/${direct.key}`, { key: null, headers: ua });
    await call('GET', /url=([^"]+)"/.exec(page.body)![1].replace(/&amp;/g, '&'), { key: null });
    await call('PATCH', `/api/campaigns/${direct.id}`, { body: { redirectMode: '302' } });
    await call('GET', '/track.js', { key: null });
    await call('GET', '/dm?u=https%3A%2F%2Foffer.test%2F&s=bad', { key: null });
    await t.app.ctx.clickWriter!.flush();

    const json = { accept: 'application/json' };
    await call('GET', `/postback?cid=${visit.clickId}&payout=3&txid=t1&secret=secret-123`, { key: null, headers: json });
    await call('GET', `/postback?cid=${visit.clickId}&payout=3&txid=t1&secret=secret-123`, { key: null, headers: json }); // duplicate
    await call('POST', '/postback', { key: null, headers: json, body: { cid: first.clickId, payout: 1.5, status: 'PENDING', secret: 'secret-123' } });
    await call('GET', '/postback?cid=unknown-click&payout=1', { key: null, headers: json }); // pending
    await call('GET', `/postback?cid=${visit.clickId}&secret=wrong`, { key: null, headers: json }); // 403
    await call('GET', '/postback?cid=x&payout=abc', { key: null, headers: json }); // 400
    await call('GET', `/pixel.gif?cid=${first.clickId}&type=lead`, { key: null });
    await call('GET', '/pixel.js', { key: null });
    await call('POST', '/api/conversions', { body: [{ clickId: visit.clickId, txid: 't2', payout: '4' }, { payout: '1' }] });

    const range = `from=${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}&to=${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}&tz=UTC`;
    await call('GET', `/api/reports?${range}`);
    await call('GET', `/api/reports?${range}&groupBy=campaign,trafficSource,offer,lander,affiliateNetwork,path,day,hour`);
    await call('GET', `/api/reports?${range}&groupBy=hourOfDay,dayOfWeek,country,device,os,browser,language,adset`);
    await call('GET', `/api/reports?${range}&groupBy=ad,placement,externalId,var:sub&includeBots=true`);
    await call('GET', `/api/reports?${range}&groupBy=nonsense`); // 400
    const csv = await call('GET', `/api/reports?${range}&format=csv`);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    await call('GET', `/api/clicks?${range}&limit=5`);
    const conversions = (await call('GET', `/api/conversions?${range}`)).json();
    await call('GET', `/api/conversions?${range}&attributed=false`);
    await call('GET', `/api/conversions/${conversions.items[0].id}`);
    await call('GET', '/api/conversions/999999'); // 404
    await call('GET', `/api/campaigns/${campaign.id}/stats?${range}`);
    await call('POST', `/api/campaigns/${direct.id}/costs`, { body: { from: range.slice(5, 15), to: range.slice(19, 29), cost: '12.5' } });
    await call('POST', `/api/campaigns/${direct.id}/costs`, { body: { from: '2020-01-01', to: '2020-01-02', cost: '1' } }); // 409
    await call('GET', '/api/postback-deliveries');
    await call('POST', '/api/postback-deliveries/retry', { body: { trafficSourceId: ts.id } });
    await call('GET', '/api/tracking/status');
    for (const path of ['traffic-sources', 'affiliate-networks', 'offers', 'landers', 'campaigns']) {
      const created = (await call('GET', `/api/${path}?pageSize=1`)).json().items[0];
      await call('DELETE', `/api/${path}/${created.id}`);
    }
    expect(admin).toMatch(/^tl_/);

    // Every operation with a JSON answer was checked on a success at least once.
    const unchecked = operations()
      .filter(({ path }) => path !== '/api/metrics')
      .filter(({ op }) => ![...(checked.get(op.operationId) ?? [])].some((s) => s < 400))
      .map(({ op }) => op.operationId);
    expect(unchecked).toEqual([]);
    // And the error answers a client must handle, each on a route that documents it.
    const errors = new Set([...checked.values()].flatMap((s) => [...s].filter((x) => x >= 400)));
    expect([...errors].sort()).toEqual([400, 401, 403, 404, 409, 412]);
  });
});
