// No Docker engine runs on CI: check the compose file's shape and that it only sets variables
// config.ts knows (a typo there would silently fall back to a default in production).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.js';

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'));

describe('docker-compose.yml', () => {
  it('has postgres, redis and the tracker with healthchecks', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['postgres', 'redis', 'tracker']);
    for (const name of ['postgres', 'redis', 'tracker']) expect(compose.services[name].healthcheck?.test).toBeTruthy();
  });

  it("checks the tracker's liveness (/healthz), not its readiness, in the image and in compose", () => {
    // On /readyz a Postgres outage made the tracker unhealthy, and Swarm or autoheal restarted it into
    // a start-up that cannot pass until Postgres is back, while the running one kept redirecting.
    expect(compose.services.tracker.healthcheck.test.join(' ')).toContain('http://127.0.0.1:8080/healthz');
    expect(compose.services.tracker.healthcheck.start_period).toBe('60s');
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD \[.*process\.env\.PORT \|\| 8080\) \+ '\/healthz'/m);
  });

  it('gives the shutdown its time before docker kills it, and rotates the logs', () => {
    const grace = Number(/^(\d+)s$/.exec(compose.services.tracker.stop_grace_period)![1]) * 1000;
    const shutdown = Number(compose.services.tracker.environment.SHUTDOWN_TIMEOUT_MS ?? loadConfig({}).SHUTDOWN_TIMEOUT_MS);
    expect(grace).toBeGreaterThan(shutdown);
    expect(compose.services.tracker.logging).toEqual({ driver: 'json-file', options: { 'max-size': '10m', 'max-file': '5' } });
  });

  it('keeps Postgres data on a volume', () => {
    expect(compose.services.postgres.volumes.some((v: string) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true);
    expect(Object.keys(compose.volumes)).toContain('pgdata');
  });

  it("keeps the tracker's spill directories (postbacks answered 200, visits waiting) on a volume", () => {
    const dataDir = compose.services.tracker.environment.TRACKLANE_DATA_DIR;
    expect(compose.services.tracker.volumes).toContain(`trackerdata:${dataDir}`);
    expect(Object.keys(compose.volumes)).toContain('trackerdata');
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toContain(`chown node:node ${dataDir}`);
    // Without compose (`docker run` on the embedded database) the default ./data is /app/data, not the node user's to create.
    expect(dockerfile).toContain(`ENV TRACKLANE_DATA_DIR=${dataDir}`);
  });

  it('builds the tracker from the repo Dockerfile and waits for healthy Postgres and Redis', () => {
    expect(compose.services.tracker.build).toBe('.');
    expect(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8')).toContain('dist/server.js');
    expect(compose.services.tracker.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
  });

  it('ships no API key: TRACKLANE_API_KEY must come from the operator', () => {
    // A default here would be an admin key known to everyone who reads this file, on a published port.
    expect(String(compose.services.tracker.environment.TRACKLANE_API_KEY)).toMatch(/^\$\{TRACKLANE_API_KEY:\?[^}]+\}$/);
    // The key is meant for .env then, which must never reach the image's build context.
    expect(readFileSync(new URL('../../.dockerignore', import.meta.url), 'utf8').split('\n')).toContain('.env');
  });

  it('sets only variables config.ts knows, with values it accepts', () => {
    const env: Record<string, string> = compose.services.tracker.environment;
    for (const name of Object.keys(env)) expect(CONFIG_VARIABLES).toContain(name);
    // Substitute ${VAR:-default} with its default and a required ${VAR:?message} with a value the
    // operator might give, then parse as the tracker would.
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1').replace(/\$\{[A-Z_]+:\?[^}]*\}/g, 'an-operator-chosen-key-0123456789')]),
    );
    const config = loadConfig(resolved);
    expect(config.DATABASE_URL).toContain('@postgres:5432');
    expect(config.REDIS_URL).toBe('redis://redis:6379');
  });
});
