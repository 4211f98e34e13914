// The README's configuration table is the operator's reference: it must name every variable
// config.ts reads, and nothing config.ts does not know.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../src/config.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const tableVariables = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]);

describe('README configuration table', () => {
  it('documents every variable config.ts reads', () => {
    expect(CONFIG_VARIABLES.filter((v) => !tableVariables.includes(v))).toEqual([]);
  });

  it('documents no variable config.ts does not know', () => {
    expect(tableVariables.filter((v) => !(CONFIG_VARIABLES as string[]).includes(v))).toEqual([]);
  });

  it('shows the quick start and the test command', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });
});
