import { createReadStream } from 'node:fs';
import { TcuError, asTcuError, isTcuError } from '../../core/errors.js';
import { compileDbc } from '../../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../../drivers/can/dbc/parser.js';
import { LineSplitter } from '../../drivers/can/candump/lines.js';
import { EXIT, parseCommandArgs, requireString, write, type CommandIO } from '../../core/cli.js';
import { ByteWriter } from '../decode/byte-writer.js';
import { CandumpLineDecoder } from '../decode/line-decoder.js';

export const DECODE_HELP = `Usage: tcu-agent decode --dbc FILE [--log FILE] [--choices] [--strict]

Reads candump log lines (can-utils "candump -L" format) from FILE or standard input and writes,
for each frame whose id the DBC knows, one JSON line:
  {"ts": <seconds>, "bus": "<interface>", "id": <id>, "ext": <bool>, "name": "<message>",
   "signals": {"<signal>": <value>, ...}}
Signals the frame does not carry are left out. A float signal holding NaN or an infinity is
written as null (JSON has no such numbers). A summary goes to standard error. Malformed lines
(and lines over 4096 characters) are counted, never fatal.

Options:
  --dbc FILE     the DBC file (required)
  --log FILE     the candump log (default: standard input)
  --choices      value-table text instead of numbers where the DBC has one
  --strict       refuse a DBC with any warning (exit 2)
  -h, --help     this text

Exit codes: 0 done (also when the reader of the output goes away), 1 runtime failure,
2 usage error or unusable DBC/log file.
`;

const OUTPUT_CHUNK = 1 << 16;
const MAX_REPORTS = 5;

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
  const db = loadDbcFile(requireString(values.dbc, '--dbc'), { strict: values.strict });
  for (const w of db.warnings.slice(0, MAX_REPORTS)) {
    io.stderr.write(`warning ${w.code}: ${w.file}:${w.line}:${w.column}: ${w.message}\n`);
  }
  if (db.warnings.length > MAX_REPORTS) io.stderr.write(`warning: ${db.warnings.length - MAX_REPORTS} more DBC warnings\n`);

  let reported = 0;
  const decoder = new CandumpLineDecoder(compileDbc(db), {
    choices: values.choices,
    onMalformed: (err, lineNumber) => {
      if (reported++ < MAX_REPORTS) io.stderr.write(`malformed line ${lineNumber}: ${err.message}\n`);
    },
  });

  const input = values.log === undefined ? io.stdin : createReadStream(values.log, { highWaterMark: 1 << 16 });
  // A reader that goes away (`| head`) ends the run quietly; the input is dropped.
  const onOutputError = (): void => stopReading();
  io.stdout.on('error', onOutputError);
  const stopReading = (): void => {
    (input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  };
  io.stop?.addEventListener('abort', stopReading, { once: true });

  const splitter = new LineSplitter(4096);
  const out = new ByteWriter(OUTPUT_CHUNK * 2);
  try {
    const decodeLines = (lines: (string | null)[]): void => {
      for (const line of lines) {
        if (line === null) decoder.skipLine(overlong());
        else decoder.decodeLineTo(line, out);
      }
    };
    for await (const chunk of input) {
      decodeLines(splitter.push(chunk as string | Buffer));
      if (out.length >= OUTPUT_CHUNK) await write(io.stdout, out.take());
    }
    decodeLines(splitter.end());
    if (out.length > 0) await write(io.stdout, out.take());
  } catch (err) {
    if (!endedOnPurpose(err, io)) throw asTcuError(err, 'FILE_READ', `cannot read ${values.log ?? 'standard input'}`);
  } finally {
    io.stdout.off('error', onOutputError);
    io.stop?.removeEventListener('abort', stopReading);
  }

  const c = decoder.counters();
  io.stderr.write(
    `decode: ${c.frames} frames read, ${c.decoded} decoded, ${c.unknownIds} unknown ids, ` +
      `${c.notData} remote or error frames, ${c.malformed} malformed lines\n`,
  );
  return EXIT.OK;
}

function overlong(): TcuError {
  return new TcuError('CANDUMP_SYNTAX', 'line longer than 4096 characters');
}

/** A stop asked for, or an output whose reader went away: not a failure of the run. */
function endedOnPurpose(err: unknown, io: CommandIO): boolean {
  if (io.stop?.aborted) return true;
  if (isTcuError(err, 'OUTPUT_CLOSED')) return true;
  const code = (err as { code?: unknown }).code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}
