import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dispatchCommand, type CommandIO } from '../../../core/cli.js';
import { TcuError } from '../../../core/errors.js';

function io(): { io: CommandIO; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { io: { stdin: new PassThrough(), stdout, stderr, isTTY: false }, out: () => out, err: () => err };
}

describe('dispatchCommand', () => {
  const commands = {
    hello: async (rest: string[]) => (rest.includes('--fail') ? Promise.reject(new TcuError('CLI_USAGE', 'bad flag')) : 0),
  };

  it('runs a command with the rest of the arguments, and maps its usage errors to exit 2', async () => {
    expect(await dispatchCommand(['hello'], io().io, 'HELP\n', commands)).toBe(0);
    const r = io();
    expect(await dispatchCommand(['hello', '--fail'], r.io, 'HELP\n', commands)).toBe(2);
    expect(r.err()).toMatch(/CLI_USAGE: bad flag/);
  });

  it('prints the help (exit 0 when asked, 2 with no command) and refuses unknown commands, prototype names included', async () => {
    const asked = io();
    expect(await dispatchCommand(['--help'], asked.io, 'HELP\n', commands)).toBe(0);
    expect(asked.out()).toBe('HELP\n');
    expect(await dispatchCommand([], io().io, 'HELP\n', commands)).toBe(2);
    for (const name of ['nope', 'toString', 'constructor', '__proto__']) {
      const r = io();
      expect(await dispatchCommand([name], r.io, 'HELP\n', commands)).toBe(2);
      expect(r.err()).toMatch(new RegExp(`unknown command "${name}"`));
    }
  });
});
