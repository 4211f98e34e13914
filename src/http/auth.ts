// The API-key gate for everything under /api.
import type { onRequestAsyncHookHandler } from 'fastify';
import type { AppContext } from '../context.js';
import { presentedKey, verifyApiKey } from '../management/api-keys.js';
import { forbidden, unauthorized } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated key's id; null for the TRACKLANE_API_KEY bootstrap key. */
    apiKeyId?: number | null;
    /** The authenticated key's scope: a read key never sees secrets that let their holder write. */
    apiKeyScope?: 'admin' | 'read';
  }
}

export function requireApiKey(ctx: AppContext): onRequestAsyncHookHandler {
  return async (req) => {
    const check = await verifyApiKey(ctx.db, presentedKey(req.headers), ctx.config.TRACKLANE_API_KEY);
    if (!check.ok) throw unauthorized();
    // A read key may read everything but the keys themselves, and change nothing.
    // The matched route, not the raw URL: `/api/%61pi-keys` reaches the same handler.
    const route = req.routeOptions.url ?? req.url;
    if (check.scope === 'read' && ((req.method !== 'GET' && req.method !== 'HEAD') || route.startsWith('/api/api-keys'))) {
      throw forbidden('this API key is read-only');
    }
    req.apiKeyId = check.keyId;
    req.apiKeyScope = check.scope;
  };
}
