import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AGENT_VERSION } from '../../../agent/version.js';

describe('version', () => {
  it('the agent reports the version package.json declares', () => {
    expect(AGENT_VERSION).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  });
});
