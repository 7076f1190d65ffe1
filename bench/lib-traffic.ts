// Random CAN traffic over a DBC's messages, shared by the benchmarks.
import { formatCandumpLine } from '../drivers/can/candump/format.js';
import { makeFrame } from '../drivers/can/frame.js';
import type { DbcDatabase } from '../drivers/can/dbc/model.js';

import { mulberry32 } from '../core/random.js';

export const prng = mulberry32;

/** `count` candump lines, each a random message of `db` with a random payload of its length. */
export function randomCandumpLines(db: DbcDatabase, count: number, seed = 1): string[] {
  const random = prng(seed);
  const lines: string[] = [];
  let ts = 1_700_000_000_000_000;
  for (let i = 0; i < count; i++) {
    const m = db.messages[Math.floor(random() * db.messages.length)]!;
    const data = new Uint8Array(m.length);
    for (let j = 0; j < data.length; j++) data[j] = Math.floor(random() * 256);
    ts += 100 + Math.floor(random() * 200);
    lines.push(formatCandumpLine(makeFrame({ id: m.id, ext: m.extended, fd: m.fd || m.length > 8, data, ts, bus: 'can0' })));
  }
  return lines;
}
