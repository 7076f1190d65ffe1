import { EXIT, parseCommandArgs, requireString, type CommandIO } from '../../core/cli.js';
import { systemClock } from '../../core/clock.js';
import { TcuError, isTcuError } from '../../core/errors.js';
import { queryQgpsloc, type GnssFix } from '../../drivers/gnss/index.js';
import { AtEngine, Modem, SerialAtPort, type ModemSnapshot, type ProfileChoice } from '../../drivers/modem/index.js';
import { deriveConnectivity } from '../connectivity/state.js';

export const MODEM_INFO_HELP = `Usage: tcu-agent modem-info --port PATH [options]

Asks the modem on a serial port once and prints what the agent would learn from it: identity,
SIM, registration per domain, operator, radio technology, signal, packet attach and address, and
the GNSS position (Quectel modems). Useful when bringing up a board.

Options:
  --port PATH        the modem's AT port (/dev/ttyUSB2 on Quectel USB modems)
  --baud N           baud rate (default 115200; USB modems ignore it)
  --profile NAME     auto (default), generic or quectel
  --timeout MS       per AT command (default 5000)
  --no-gnss          do not ask for the position
  --json             one JSON object instead of text
  -h, --help         this text

Exit codes: 0 done, 1 the port could not be opened or the modem did not answer, 2 usage error.
`;

const PROFILES = new Set(['auto', 'generic', 'quectel']);

interface Position {
  fix?: GnssFix;
  /** Why there is no position: no fix yet, GNSS off, not a Quectel modem, an error. */
  problem?: string;
}

export async function modemInfoCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    port: { type: 'string' },
    baud: { type: 'string', default: '115200' },
    profile: { type: 'string', default: 'auto' },
    timeout: { type: 'string', default: '5000' },
    'no-gnss': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(MODEM_INFO_HELP);
    return EXIT.OK;
  }
  const path = requireString(values.port, '--port');
  const baudRate = positiveInt(values.baud, '--baud');
  const timeoutMs = positiveInt(values.timeout, '--timeout');
  if (!PROFILES.has(values.profile)) throw new TcuError('CLI_USAGE', `--profile must be auto, generic or quectel (got "${values.profile}")`);

  const clock = systemClock();
  const port = new SerialAtPort({ path, baudRate, binding: (await import('@serialport/bindings-cpp')).autoDetect() });
  const engine = new AtEngine({ port, clock, defaultTimeoutMs: timeoutMs });
  await engine.start(); // AT_PORT_OPEN (missing device, permissions) ends here with exit 1
  try {
    const modem = new Modem({ commander: engine, clock, profile: values.profile as ProfileChoice, pollIntervalMs: 0 });
    const snapshot = await modem.queryOnce();
    const position = values['no-gnss'] ? undefined : await locate(engine, snapshot, timeoutMs);
    io.stdout.write(values.json ? JSON.stringify(asJson(snapshot, position)) + '\n' : formatModemInfo(path, snapshot, position));
  } finally {
    await engine.stop();
  }
  return EXIT.OK;
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new TcuError('CLI_USAGE', `${flag} must be a positive integer (got "${text}")`);
  return n;
}

async function locate(engine: AtEngine, snapshot: ModemSnapshot, timeoutMs: number): Promise<Position> {
  if (snapshot.profile !== 'quectel') return { problem: 'not asked: AT+QGPSLOC needs a Quectel modem (use the NMEA port otherwise)' };
  try {
    const fix = await queryQgpsloc(engine, { timeoutMs });
    return fix.valid ? { fix } : { problem: 'no fix yet (+CME ERROR: 516)' };
  } catch (err) {
    const cause = isTcuError(err) ? err.cause : undefined;
    if (isTcuError(cause, 'AT_COMMAND_FAILED') && Number(cause.details['cme']) === 505) {
      return { problem: 'GNSS is off (+CME ERROR: 505); AT+QGPS=1 starts it, as the agent does with modem.gnss.source "qgpsloc"' };
    }
    return { problem: err instanceof Error ? err.message : String(err) };
  }
}

function asJson(s: ModemSnapshot, position: Position | undefined): Record<string, unknown> {
  return { ...s, connectivity: deriveConnectivity(s), ...(position === undefined ? {} : { position: position.fix ?? { problem: position.problem } }) };
}

export function formatModemInfo(path: string, s: ModemSnapshot, position: Position | undefined): string {
  const c = deriveConnectivity(s);
  const id = s.identity;
  const regs = Object.values(s.registrations)
    .map((r) => `${r.domain} ${r.status}${r.tech ? ` (${r.tech})` : ''}${r.area ? ` area ${r.area}` : ''}${r.cellId ? ` cell ${r.cellId}` : ''}`)
    .join('; ');
  const sig = s.signal;
  const signal =
    sig === undefined
      ? 'unknown'
      : [`${sig.bars}/5 bars`, sig.rssiDbm === undefined ? '' : `RSSI ${sig.rssiDbm} dBm`, sig.rsrpDbm === undefined ? '' : `RSRP ${sig.rsrpDbm} dBm`, sig.rsrqDb === undefined ? '' : `RSRQ ${sig.rsrqDb} dB`, sig.sinrDb === undefined ? '' : `SINR ${sig.sinrDb} dB`]
          .filter((x) => x !== '')
          .join(', ');
  const op = s.operator;
  const operator = op === undefined ? 'unknown' : [op.name, op.mcc !== undefined && op.mnc !== undefined ? `(${op.mcc} ${op.mnc})` : ''].filter(Boolean).join(' ') || 'unknown';
  const fix = position?.fix;
  const where =
    position === undefined
      ? 'not asked'
      : fix !== undefined
        ? `${fix.latitude?.toFixed(6)}, ${fix.longitude?.toFixed(6)}${fix.altitudeM === undefined ? '' : `, ${fix.altitudeM} m`}${fix.satellitesUsed === undefined ? '' : `, ${fix.satellitesUsed} satellites`}${fix.hdop === undefined ? '' : `, HDOP ${fix.hdop}`}`
        : (position.problem ?? 'unknown');
  return [
    `port          ${path} (${s.profile} profile)`,
    `modem         ${[id.manufacturer, id.model].filter(Boolean).join(' ') || 'unknown'}${id.firmware ? `, firmware ${id.firmware}` : ''}`,
    `IMEI          ${id.imei ?? 'unknown'}`,
    `SIM           ${s.sim}${id.iccid ? `, ICCID ${id.iccid}` : ''}${id.imsi ? `, IMSI ${id.imsi}` : ''}`,
    `connectivity  ${c.state}${c.reason ? ` (${c.reason})` : ''}`,
    `registration  ${regs || 'none'}`,
    `operator      ${operator}`,
    `technology    ${s.tech}`,
    `signal        ${signal}`,
    `packet        ${s.packet === undefined ? 'unknown' : s.packet.attached ? `attached${s.packet.address ? `, address ${s.packet.address}` : ''}` : 'detached'}`,
    `position      ${where}`,
    '',
  ].join('\n');
}
