// Postgres text and jsonb cannot hold U+0000, so a NUL anywhere in an API request would reach the
// database and come back as a 500. This hook turns it into a 400 naming the field, before any
// route sees it, for every /api route at once (present and future).
import type { preValidationAsyncHookHandler } from 'fastify';
import { badRequest, formatPath } from './errors.js';

/** Bounds the scan of a pathological body (a 100k-element array is ~100k nodes). */
const MAX_NODES = 2_000_000;

interface Node {
  v: unknown;
  key: PropertyKey | undefined;
  parent: Node | undefined;
}

const pathOf = (n: Node | undefined, last?: PropertyKey): PropertyKey[] => {
  const out: PropertyKey[] = last === undefined ? [] : [last];
  for (let c = n; c && c.key !== undefined; c = c.parent) out.unshift(c.key);
  return out;
};

/**
 * The path of the first string (value or key) containing U+0000, or undefined. Iterative with
 * parent links, so a 10,000-deep body neither overflows the stack nor costs quadratic time.
 */
export function findNul(value: unknown): PropertyKey[] | undefined {
  const stack: Node[] = [{ v: value, key: undefined, parent: undefined }];
  for (let seen = 0; stack.length > 0 && seen < MAX_NODES; seen++) {
    const node = stack.pop()!;
    const { v } = node;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return pathOf(node);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], key: i, parent: node });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\u0000')) return pathOf(node, k);
        stack.push({ v: child, key: k, parent: node });
      }
    }
  }
  return undefined;
}

export const rejectNulCharacters: preValidationAsyncHookHandler = async (req) => {
  for (const part of ['params', 'query', 'body'] as const) {
    const at = findNul(req[part]);
    if (at) {
      const field = formatPath(at) || part;
      throw badRequest(field, `${field}: must not contain NUL (\\u0000) characters`);
    }
  }
};
