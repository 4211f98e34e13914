// /openapi.json documents every management route with its request and response schemas, and
// /docs renders, so an integrator can work from the spec alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTestApp } from '../helpers/test-app.js';

const ENTITIES = ['/api/traffic-sources', '/api/affiliate-networks', '/api/offers', '/api/landers', '/api/campaigns'];
/** The API's one error shape, as the document must show it. */
const ERROR_SHAPE = { required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } };
const json = (response: { content: Record<string, { schema: Record<string, any> }> }) => response.content['application/json'].schema;

describe('management API documentation', () => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let spec: Record<string, any>;
  beforeAll(async () => {
    t = await setupTestApp('postgres');
    const res = await t.app.inject('/openapi.json');
    expect(res.statusCode).toBe(200);
    spec = res.json();
  });
  afterAll(async () => t?.close());

  it('lists list/get/create/patch/archive for every entity with request and response schemas', () => {
    for (const base of ENTITIES) {
      const collection = spec.paths[base];
      const item = spec.paths[`${base}/{id}`];
      expect(collection, base).toBeDefined();
      expect(item, `${base}/{id}`).toBeDefined();
      expect(collection.get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['page', 'pageSize', 'name', 'status']));
      expect(collection.get.responses['200'].content['application/json'].schema.properties.items.type).toBe('array');
      // Types, not mere presence: a schema documented as {} would pass a toBeDefined().
      expect(json(collection.post.requestBody).properties.name, base).toMatchObject({ type: 'string', minLength: 1 });
      expect(json(collection.post.responses['201']).properties.version, base).toMatchObject({ type: 'integer' });
      expect(json(collection.post.responses['400']).properties.error, base).toMatchObject(ERROR_SHAPE);
      expect(json(item.get.responses['200']).properties.id, base).toMatchObject({ type: 'integer' });
      expect(Object.keys(json(item.patch.requestBody).properties), base).toEqual(expect.arrayContaining(['name', 'status']));
      expect(item.patch.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['path:id', 'header:if-match']));
      expect(json(item.patch.responses['412']).properties.error, base).toMatchObject(ERROR_SHAPE);
      expect(json(item.delete.responses['200']).properties.status, base).toMatchObject({ type: 'string' });
    }
  });

  it('documents the fields users need to find', () => {
    const campaignOut = spec.paths['/api/campaigns'].post.responses['201'].content['application/json'].schema.properties;
    expect(campaignOut.trackingUrl.description).toContain('/click/KEY');
    expect(campaignOut.ctaUrl.description).toContain('/cta/N');
    const campaignIn = spec.paths['/api/campaigns'].post.requestBody.content['application/json'].schema;
    expect(campaignIn.required).toEqual(expect.arrayContaining(['name', 'trafficSourceId', 'flow']));
    expect(JSON.stringify(campaignIn.properties.flow)).toContain('offers');
    const tsIn = spec.paths['/api/traffic-sources'].post.requestBody.content['application/json'].schema.properties;
    expect(tsIn.preset.enum).toEqual(['facebook', 'google', 'tiktok', 'taboola', 'outbrain', 'mgid', 'propellerads']);
    const networkOut = spec.paths['/api/affiliate-networks/{id}'].get.responses['200'].content['application/json'].schema.properties;
    expect(networkOut.postbackUrl).toMatchObject({ type: 'string', description: expect.stringContaining('postback') });
    const listFilters = (path: string) => spec.paths[path].get.parameters.map((p: { name: string }) => p.name);
    expect(listFilters('/api/campaigns')).toContain('trafficSourceId');
    expect(listFilters('/api/offers')).toContain('affiliateNetworkId');
    expect(listFilters('/api/landers')).not.toContain('trafficSourceId');
    expect(Object.keys(spec.paths['/api/traffic-sources/presets'])).toEqual(['get']);
    expect(Object.keys(spec.paths['/api/affiliate-networks/presets'])).toEqual(['get']);
  });

  it('describes each answer, and documents 409 only where a key can be taken and no body for a 204', () => {
    for (const [path, ops] of Object.entries(spec.paths as Record<string, Record<string, { responses: Record<string, { description: string; content?: unknown }> }>>)) {
      // /api/metrics is registered in src/http/metrics.ts, whose answer is not described yet.
      if (path === '/api/metrics') continue;
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, answer] of Object.entries(op.responses)) {
          expect(answer.description, `${method} ${path} ${status}`).not.toBe('Default Response');
          if (status === '204') expect(answer.content, `${method} ${path} 204`).toBeUndefined();
        }
      }
    }
    for (const base of ENTITIES) {
      expect(Object.keys(spec.paths[base].post.responses).includes('409'), base).toBe(base === '/api/campaigns');
      expect(spec.paths[`${base}/{id}`].patch.responses).not.toHaveProperty('409');
    }
    expect(spec.paths['/api/campaigns/{id}'].get.responses['200'].description).toContain('ETag');
    expect(spec.paths['/api/campaigns/{id}/clone'].post.responses['409'].description).toContain('key');
  });

  it('renders /docs', async () => {
    const docs = await t.app.inject('/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('swagger');
  });
});
