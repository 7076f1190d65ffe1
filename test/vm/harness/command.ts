import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The absolute path of `program` on PATH, or undefined. */
export function findProgram(program: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion and resolves with its output; rejects with an error naming the
 * command line, its exit status and the end of its standard error.
 */
export function runCommand(program: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const status = err.killed ? `killed after ${options.timeoutMs ?? 120_000} ms` : `exit status ${String(err.code)}`;
        const tail = stderr.trim().split('\n').slice(-5).join('\n');
        reject(new Error(`${program} ${args.join(' ')} failed (${status})${tail ? `:\n${tail}` : ''}`, { cause: err }));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}
