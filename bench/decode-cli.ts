// End-to-end throughput of `tcu-agent decode` (the bundled program, a real process), in lines/s,
// with a baseline in the same run: a Node process that only reads and splits the same file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDbcFile } from '../drivers/can/dbc/parser.js';
import type { Emit } from './run.js';
import { randomCandumpLines } from './lib-traffic.js';

const LINES = 1_000_000;
const DBC = 'test/fixtures/dbc/vw_mqb.dbc';

const BASELINE = `
const fs = require('node:fs');
let n = 0, pending = '';
const s = fs.createReadStream(process.argv[1], { highWaterMark: 65536 });
s.on('data', (c) => { const t = pending + c.toString('latin1'); let start = 0;
  for (let i = t.indexOf('\\n'); i !== -1; i = t.indexOf('\\n', start)) { n++; start = i + 1; }
  pending = t.slice(start); });
s.on('end', () => process.stderr.write(String(n) + '\\n'));
`;

function timed(args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr.toString()}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function run(emit: Emit): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-bench-'));
  try {
    const log = join(dir, 'traffic.log');
    writeFileSync(log, randomCandumpLines(loadDbcFile(DBC), LINES).join('\n') + '\n');
    let best = Infinity;
    let baseline = Infinity;
    for (let i = 0; i < 3; i++) {
      baseline = Math.min(baseline, timed(['-e', BASELINE, log]));
      best = Math.min(best, timed(['dist/tcu-agent.mjs', 'decode', '--dbc', DBC, '--log', log]));
    }
    emit('cli.decode.vw_mqb', LINES / best, 'lines/s');
    emit('cli.read_lines_baseline', LINES / baseline, 'lines/s');
    emit('cli.decode.vw_mqb.share_of_baseline', baseline / best, 'ratio');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
