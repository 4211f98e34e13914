// The direct-tracking script runs in visitors' browsers; here it runs in a vm context with the few
// browser objects it touches, and its fetch goes to the real /visit of a test app.
import { runInNewContext } from 'node:vm';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { visits } from '../../src/db/schema.js';
import { seedCampaign, seedLander, seedOffer, seedTrafficSource } from '../helpers/seed.js';
import { BACKENDS, setupTestApp } from '../helpers/test-app.js';

const TRACKER = 'https://track.example.com';

describe.each(BACKENDS)('track.js on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  beforeAll(async () => {
    t = await setupTestApp(backend);
    const ts = await seedTrafficSource(t.app.ctx, { params: [{ name: 'adset_id', token: '{{adset.id}}', role: 'adset' }] });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/o?s={clickid}' });
    const lander = await seedLander(t.app.ctx, { url: 'https://lander.example/lp' });
    await seedCampaign(t.app.ctx, { key: 'js1', trafficSourceId: ts.id, flow: { rules: [], paths: [{ landers: [{ id: lander.id }], offers: [{ id: offer.id }] }] } });
  });
  afterAll(async () => t?.close());

  /** Runs the served script on a page at `pageUrl` holding `hrefs`; resolves with the links after the visit is recorded. */
  async function runOnPage(scriptSrc: string, pageUrl: string, hrefs: string[], referrer = '') {
    const script = (await t.app.inject('/track.js')).body;
    const links = hrefs.map((href) => ({ href }));
    const listeners: ((e: unknown) => void)[] = [];
    const requested: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const window: Record<string, unknown> = {
      URL,
      fetch: async (url: string) => {
        requested.push(url);
        const path = url.slice(TRACKER.length);
        // As a browser sends it: the call's Referer is the lander page (its origin, cross-site).
        const res = await t.app.inject({ url: path, headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36', referer: `${new URL(pageUrl).origin}/` } });
        setTimeout(done, 10); // after the script's .then callbacks
        return { ok: res.statusCode === 200, json: async () => res.json() };
      },
    };
    const page = new URL(pageUrl);
    const context = {
      window,
      URL,
      fetch: window.fetch,
      location: { href: page.href, search: page.search },
      document: {
        currentScript: { src: scriptSrc },
        referrer,
        querySelectorAll: () => links,
        addEventListener: (_type: string, f: (e: unknown) => void) => listeners.push(f),
      },
    };
    runInNewContext(script, context);
    if (requested.length > 0) await finished;
    return { links, requested, tracklane: window.tracklane as { clickId: string } | undefined, listeners };
  }

  it('records the visit with the page parameters and adds the click ID to the links to /cta only', async () => {
    const res = await t.app.inject('/track.js');
    expect(res.headers['content-type']).toBe('application/javascript; charset=utf-8');
    const { links, requested, tracklane, listeners } = await runOnPage(`${TRACKER}/track.js?campaign=js1`, 'https://lander.example/lp?adset_id=A9&fbclid=F', [
      `${TRACKER}/cta`,
      `${TRACKER}/cta/2?x=1`,
      'https://elsewhere.example/cta',
      `${TRACKER}/click/js1`,
    ], 'https://l.facebook.com/l.php?u=x');
    expect(requested).toEqual([`${TRACKER}/visit/js1?adset_id=A9&fbclid=F&tl_referrer=${encodeURIComponent('https://l.facebook.com/l.php?u=x')}`]);
    const clickId = tracklane!.clickId;
    expect(clickId).toMatch(/^[0-9A-Za-z]{10,24}$/);
    expect(links.map((l) => l.href)).toEqual([
      `${TRACKER}/cta?cid=${clickId}`,
      `${TRACKER}/cta/2?x=1&cid=${clickId}`,
      'https://elsewhere.example/cta',
      `${TRACKER}/click/js1`,
    ]);
    // A link the page adds later is tagged when clicked.
    const late = { href: `${TRACKER}/cta`, closest: () => late };
    listeners[0]({ target: late });
    expect(late.href).toBe(`${TRACKER}/cta?cid=${clickId}`);

    await t.app.ctx.clickWriter!.flush();
    const [row] = await t.app.ctx.db.select().from(visits).where(eq(visits.clickId, clickId));
    expect(row.tsAdset).toBe('A9');
    // The visit's referrer is the page that sent the visitor to the lander, not the lander.
    expect(row.referrerDomain).toBe('l.facebook.com');
    expect(row.params).not.toHaveProperty('tl_referrer');
  });

  it('records no referrer for a lander opened directly, not the lander itself', async () => {
    const { requested, tracklane } = await runOnPage(`${TRACKER}/track.js?campaign=js1`, 'https://lander.example/lp', []);
    expect(requested).toEqual([`${TRACKER}/visit/js1?tl_referrer=`]);
    await t.app.ctx.clickWriter!.flush();
    const [row] = await t.app.ctx.db.select().from(visits).where(eq(visits.clickId, tracklane!.clickId));
    expect(row.referrerDomain).toBeNull();
    expect(row.params).toEqual({});
  });

  it('does nothing without a campaign, and leaves the page alone for an unknown one', async () => {
    expect((await runOnPage(`${TRACKER}/track.js`, 'https://lander.example/lp', [`${TRACKER}/cta`])).requested).toEqual([]);
    const unknown = await runOnPage(`${TRACKER}/track.js?campaign=nope`, 'https://lander.example/lp', [`${TRACKER}/cta`]);
    expect(unknown.requested).toEqual([`${TRACKER}/visit/nope?tl_referrer=`]);
    expect(unknown.links[0].href).toBe(`${TRACKER}/cta`);
    expect(unknown.tracklane).toBeUndefined();
  });
});
