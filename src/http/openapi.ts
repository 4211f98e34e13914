// OpenAPI 3 generated from the routes' zod schemas: /openapi.json for tools, /docs for people.
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { Config } from '../config.js';

export async function registerOpenApi(app: FastifyInstance, config: Config): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Tracklane API',
        description: 'Self-hosted click tracker: campaigns, click tracking, postbacks and reports.',
        version: '1.0.0',
      },
      servers: [{ url: config.PUBLIC_URL }],
      // The order /docs shows them in: set up, send traffic, record conversions, read the numbers, run it.
      tags: [
        { name: 'traffic sources', description: 'Ad networks that send the traffic: the parameters of their links and where conversions are forwarded.' },
        { name: 'affiliate networks', description: 'Networks that pay for conversions: their macros, postback URL, secret and allowed IPs.' },
        { name: 'offers', description: 'What the visitor is sold: URL, payout, attribution window, daily cap.' },
        { name: 'landers', description: 'Pre-sell pages between the ad and the offer, with their click-through slots.' },
        { name: 'campaigns', description: 'A tracking link: traffic source, cost model, and the flow of rules, paths, landers and offers.' },
        { name: 'tracking', description: 'Public links (no API key): /click, direct tracking (/visit, /track.js) and lander click-throughs (/cta).' },
        { name: 'attribution', description: 'Conversions: /postback and the pixel (no API key), conversion upload, currency rates, forwarding to traffic sources.' },
        { name: 'reports', description: 'Reports, campaign totals, cost updates, and the raw visit and conversion logs.' },
        { name: 'api keys', description: 'Keys for the /api routes (admin keys only).' },
        { name: 'ops', description: 'For operators: Prometheus metrics and the click writer status.' },
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'api-key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
