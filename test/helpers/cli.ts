import { PassThrough } from 'node:stream';
import { tcuAgent } from '../../agent/cli/main.js';

/** Runs a `tcu-agent` command in-process with captured streams. */
export async function runAgent(argv: string[], stdinText = '', stop?: AbortSignal): Promise<{ code: number; out: string; err: string }> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  stdin.end(stdinText);
  const code = await tcuAgent(argv, { stdin, stdout, stderr, stop, isTTY: false });
  return { code, out, err };
}
