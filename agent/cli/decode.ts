import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { TcuError } from '../../core/errors.js';
import { compileDbc } from '../../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../../drivers/can/dbc/parser.js';
import { ByteWriter } from '../decode/byte-writer.js';
import { CandumpLineDecoder } from '../decode/line-decoder.js';
import { EXIT, parseCommandArgs, requireString, write, type CommandIO } from '../../core/cli.js';

export const DECODE_HELP = `Usage: tcu-agent decode --dbc FILE [--log FILE] [--choices] [--strict]

Reads candump log lines (can-utils "candump -L" format) from FILE or standard input and writes,
for each frame whose id the DBC knows, one JSON line:
  {"ts": <seconds>, "bus": "<interface>", "id": <id>, "ext": <bool>, "name": "<message>",
   "signals": {"<signal>": <value>, ...}}
A summary goes to standard error. Malformed lines are counted, never fatal.

Options:
  --dbc FILE     the DBC file (required)
  --log FILE     the candump log (default: standard input)
  --choices      value-table text instead of numbers where the DBC has one
  --strict       refuse a DBC with any warning (exit 2)
  -h, --help     this text

Exit codes: 0 done, 1 runtime failure, 2 usage error or unusable DBC/log file.
`;

const OUTPUT_CHUNK = 1 << 16;
const MAX_MALFORMED_REPORTS = 5;

export async function decodeCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    dbc: { type: 'string' },
    log: { type: 'string' },
    choices: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(DECODE_HELP);
    return EXIT.OK;
  }
  const dbcPath = requireString(values.dbc, '--dbc');
  const db = loadDbcFile(dbcPath, { strict: values.strict });
  for (const w of db.warnings.slice(0, MAX_MALFORMED_REPORTS)) {
    io.stderr.write(`warning ${w.code}: ${w.file}:${w.line}:${w.column}: ${w.message}\n`);
  }
  if (db.warnings.length > MAX_MALFORMED_REPORTS) {
    io.stderr.write(`warning: ${db.warnings.length - MAX_MALFORMED_REPORTS} more DBC warnings\n`);
  }

  let reported = 0;
  const decoder = new CandumpLineDecoder(compileDbc(db), {
    choices: values.choices,
    onMalformed: (err, lineNumber) => {
      if (reported++ < MAX_MALFORMED_REPORTS) io.stderr.write(`malformed line ${lineNumber}: ${err.message}\n`);
    },
  });

  const input = values.log === undefined ? io.stdin : await openLog(values.log);
  let pending = '';
  const out = new ByteWriter(OUTPUT_CHUNK * 2);
  for await (const chunk of input) {
    const text = pending + (typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('latin1'));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      decoder.decodeLineTo(text.slice(start, nl), out);
      start = nl + 1;
    }
    pending = text.slice(start);
    if (out.length >= OUTPUT_CHUNK) await write(io.stdout, out.take());
  }
  if (pending.length > 0) decoder.decodeLineTo(pending, out);
  if (out.length > 0) await write(io.stdout, out.take());

  const c = decoder.counters();
  io.stderr.write(
    `decode: ${c.frames} frames read, ${c.decoded} decoded, ${c.unknownIds} unknown ids, ` +
      `${c.notData} remote or error frames, ${c.malformed} malformed lines\n`,
  );
  return EXIT.OK;
}

async function openLog(path: string): Promise<NodeJS.ReadableStream> {
  try {
    await access(path);
  } catch (err) {
    throw new TcuError('FILE_READ', `cannot read log file ${path}`, { cause: err });
  }
  return createReadStream(path, { highWaterMark: 1 << 16 });
}
