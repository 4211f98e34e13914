// The postback spill on its own (no database): what is appended survives a restart, is replayed in
// arrival order, stays when Postgres is still away, and a poison entry cannot block the rest.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostbackSpill, type ReplayVerdict, type SpilledPostback } from '../../src/attribution/postback-spill.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tracklane-postback-spill-'));
  dirs.push(d);
  return d;
};
const entry = (cid: string, status = 'approved'): SpilledPostback => ({
  raw: { cid, status, payout: '1.50' },
  source: 'postback',
  convertedAt: '2026-11-22T00:00:00.000Z',
  receivedAt: '2026-11-22T00:00:00.000Z',
  sourceIp: '127.0.0.1',
  secretHash: null,
  enforceWindow: false,
});
const spillFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('postbacks-') && f.endsWith('.ndjson'));

describe('postback spill', () => {
  it('is on disk once append resolves, and replays in arrival order, then leaves nothing', async () => {
    const dir = newDir();
    const spill = await createPostbackSpill({ dir, log });
    expect(spill.waiting()).toBe(false);
    await Promise.all([spill.append(entry('a')), spill.append(entry('b'))]);
    await spill.append(entry('c'));
    expect(spill.waiting()).toBe(true);
    const onDisk = spillFiles(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'));
    expect(onDisk.map((l) => (JSON.parse(l) as SpilledPostback).raw.cid)).toEqual(['a', 'b', 'c']);

    const seen: string[] = [];
    const r = await spill.replay(async (e) => {
      seen.push(e.raw.cid);
      return 'done';
    });
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(r).toEqual({ replayed: 3, left: 0 });
    expect(spill.waiting()).toBe(false);
    expect(spillFiles(dir)).toEqual([]);
    expect(spill.stats()).toEqual({ queued: 3, replayed: 3, backlog: 0, deadLettered: 0 });
    await spill.close();
  });

  it('keeps what Postgres did not take yet, and goes on from there in order, new arrivals last', async () => {
    const dir = newDir();
    const spill = await createPostbackSpill({ dir, log });
    for (const cid of ['a', 'b', 'c']) await spill.append(entry(cid));
    const seen: string[] = [];
    const upTo = (stop: string) => async (e: SpilledPostback): Promise<ReplayVerdict> => {
      if (e.raw.cid === stop) return 'retry';
      seen.push(e.raw.cid);
      // A postback arriving while the pass runs: it queues behind everything the pass holds.
      if (e.raw.cid === 'b') await spill.append(entry('d'));
      return 'done';
    };
    expect(await spill.replay(upTo('b'))).toEqual({ replayed: 1, left: 2 });
    expect(await spill.replay(upTo('none'))).toEqual({ replayed: 2, left: 1 });
    expect(await spill.replay(upTo('none'))).toEqual({ replayed: 1, left: 0 });
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    await spill.close();
  });

  it('finds what an earlier run left, skipping a line a crash cut short', async () => {
    const dir = newDir();
    const first = await createPostbackSpill({ dir, log });
    await first.append(entry('a', 'approved'));
    await first.append(entry('a', 'declined'));
    await first.close();
    appendFileSync(join(dir, spillFiles(dir)[0]), '{"raw":{"cid":"tor');

    const second = await createPostbackSpill({ dir, log });
    expect(second.waiting()).toBe(true);
    expect(second.stats().backlog).toBe(2);
    const seen: string[] = [];
    await second.replay(async (e) => {
      seen.push(`${e.raw.cid}:${e.raw.status}`);
      return 'done';
    });
    expect(seen).toEqual(['a:approved', 'a:declined']);
    expect(spillFiles(dir)).toEqual([]);
    await second.close();
  });

  it('sets an entry aside after it fails for another reason a few times, and goes on with the rest', async () => {
    const dir = newDir();
    const spill = await createPostbackSpill({ dir, log, deadLetterAfter: 2 });
    await spill.append(entry('poison'));
    await spill.append(entry('fine'));
    const seen: string[] = [];
    const record = async (e: SpilledPostback): Promise<ReplayVerdict> => {
      if (e.raw.cid === 'poison') throw new Error('a bug');
      seen.push(e.raw.cid);
      return 'done';
    };
    expect(await spill.replay(record)).toEqual({ replayed: 0, left: 2 });
    expect(await spill.replay(record)).toEqual({ replayed: 2, left: 0 });
    expect(seen).toEqual(['fine']);
    expect(spill.stats().deadLettered).toBe(1);
    expect((JSON.parse(readFileSync(join(dir, 'dead-letter.ndjson'), 'utf8')) as SpilledPostback).raw.cid).toBe('poison');
    await spill.close();
  });

  it('rejects the append when nothing can be written, so the postback is not answered 200', async () => {
    const parent = newDir();
    const notADir = join(parent, 'file');
    writeFileSync(notADir, 'x');
    const spill = await createPostbackSpill({ dir: join(notADir, 'spill'), log });
    // The file system's own refusal (the parent is a file), not some unrelated error.
    await expect(spill.append(entry('a'))).rejects.toThrow(/ENOTDIR/);
    expect(spill.waiting()).toBe(false);
    await spill.close();
  });
});
