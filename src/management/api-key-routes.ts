// /api/api-keys: list, create and revoke keys over the API (the CLI does the same offline).
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { notFound } from '../http/errors.js';
import { createApiKey, listApiKeys, revokeApiKey } from './api-keys.js';
import { IdParam } from './fields.js';

const ApiKeyInfo = z.object({
  id: z.number().int(),
  name: z.string(),
  keyPrefix: z.string(),
  scope: z.enum(['admin', 'read']),
  createdAt: z.date(),
  lastUsedAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
});

export const apiKeyRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/api-keys',
    { schema: { tags: ['api keys'], summary: 'List API keys (never the keys themselves)', response: { 200: z.object({ items: z.array(ApiKeyInfo) }) } } },
    async () => ({ items: await listApiKeys(ctx.db) }),
  );
  app.post(
    '/api-keys',
    {
      schema: {
        tags: ['api keys'],
        summary: 'Create an API key; the key is in this answer only',
        // Strict: `{"name": "tool", "readOnly": true}` must not quietly make an admin key.
        body: z.strictObject({
          name: z.string().trim().min(1).max(100),
          scope: z.enum(['admin', 'read']).default('admin').describe('read: GET only, never /api/api-keys (for reporting and optimisation tools)'),
        }),
        response: { 201: z.object({ id: z.number().int(), name: z.string(), scope: z.enum(['admin', 'read']), key: z.string() }) },
      },
    },
    async (req, reply) => {
      const created = await createApiKey(ctx.db, req.body.name, req.body.scope);
      return reply.code(201).send({ ...created, name: req.body.name, scope: req.body.scope });
    },
  );
  app.delete(
    '/api-keys/:id',
    { schema: { tags: ['api keys'], summary: 'Revoke an API key', params: IdParam, response: { 204: z.null() } } },
    async (req, reply) => {
      if (!(await revokeApiKey(ctx.db, req.params.id))) throw notFound('api key');
      return reply.code(204).send(null);
    },
  );
};
