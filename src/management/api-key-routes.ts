// /api/api-keys: list, create and revoke keys over the API (the CLI does the same offline).
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { notFound } from '../http/errors.js';
import { answer, apiWriteErrors } from '../http/answers.js';
import { createApiKey, listApiKeys, revokeApiKey } from './api-keys.js';
import { IdParam } from './fields.js';

const ApiKeyInfo = z.object({
  id: z.number().int(),
  name: z.string(),
  keyPrefix: z.string().describe('the first characters of the key, to tell keys apart'),
  scope: z.enum(['admin', 'read']),
  createdAt: z.date(),
  lastUsedAt: z.date().nullable().describe('to the minute; null when never used'),
  revokedAt: z.date().nullable(),
});

export const apiKeyRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/api-keys',
    {
      schema: {
        tags: ['api keys'],
        operationId: 'listApiKeys',
        summary: 'List API keys (never the keys themselves)',
        // Every /api/api-keys route needs an admin key, reads included.
        response: { 200: answer('Every key, revoked ones too, newest first.', z.object({ items: z.array(ApiKeyInfo) })), ...apiWriteErrors() },
      },
    },
    async () => ({ items: await listApiKeys(ctx.db) }),
  );
  app.post(
    '/api-keys',
    {
      schema: {
        tags: ['api keys'],
        operationId: 'createApiKey',
        summary: 'Create an API key; the key is in this answer only',
        // Strict: `{"name": "tool", "readOnly": true}` must not quietly make an admin key.
        body: z.strictObject({
          name: z.string().trim().min(1).max(100),
          scope: z.enum(['admin', 'read']).default('admin').describe('read: GET only, never /api/api-keys (for reporting and optimisation tools)'),
        }),
        response: {
          201: answer(
            'The new key: store `key` now, it is never shown again.',
            z.object({ id: z.number().int(), name: z.string(), scope: z.enum(['admin', 'read']), key: z.string().describe('send as header api-key or Authorization: Bearer') }),
          ),
          ...apiWriteErrors(),
        },
      },
    },
    async (req, reply) => {
      const created = await createApiKey(ctx.db, req.body.name, req.body.scope);
      return reply.code(201).send({ ...created, name: req.body.name, scope: req.body.scope });
    },
  );
  app.delete(
    '/api-keys/:id',
    {
      schema: {
        tags: ['api keys'],
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        params: IdParam,
        // z.undefined: no content in the document (a 204 has no body), and send() with no payload.
        response: { 204: z.undefined().describe('Revoked: the key is refused from now on.'), ...apiWriteErrors({ 404: 'No active key has this id.' }, 404) },
      },
    },
    async (req, reply) => {
      if (!(await revokeApiKey(ctx.db, req.params.id))) throw notFound('api key');
      return reply.code(204).send();
    },
  );
};
