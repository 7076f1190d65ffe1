import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AtLineSplitter, isEchoOf, type AtToken } from '../../../drivers/modem/at/lines.js';
import { UrcMatcher, classifyLine, commandNames, lineName, parseFinal } from '../../../drivers/modem/at/results.js';

function tokensOf(chunks: readonly (string | Uint8Array)[], max?: number): { tokens: AtToken[]; garbage: number; malformed: number } {
  const s = new AtLineSplitter(max);
  const tokens: AtToken[] = [];
  for (const c of chunks) tokens.push(...s.push(c));
  return { tokens, garbage: s.garbageBytes, malformed: s.malformedLines };
}

const line = (text: string): AtToken => ({ kind: 'line', text });
const prompt: AtToken = { kind: 'prompt' };

/** Cuts `whole` at the given fractions of its length. */
function cut(whole: Uint8Array, at: readonly number[]): Uint8Array[] {
  const points = [...new Set(at.map((f) => Math.floor(f * whole.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, whole.length]) {
    out.push(whole.subarray(from, p));
    from = p;
  }
  return out;
}

/** The finest cut: one read per byte. */
function bytewise(whole: Uint8Array): Uint8Array[] {
  return Array.from(whole, (_, i) => whole.subarray(i, i + 1));
}

describe('AtLineSplitter', () => {
  it('ends lines at CRLF, CR, LF and \\r\\r\\n alike, dropping blank lines and trimming blanks', () => {
    const expected = [line('AT+CSQ'), line('+CSQ: 23,99'), line('OK')];
    for (const text of [
      'AT+CSQ\r\r\n+CSQ: 23,99\r\n\r\nOK\r\n',
      'AT+CSQ\n+CSQ: 23,99\nOK\n',
      'AT+CSQ\r+CSQ: 23,99\rOK\r',
      '\r\n\r\nAT+CSQ\r\n  +CSQ: 23,99 \t\r\n\n\n\rOK\r\n',
    ]) {
      expect(tokensOf([text]).tokens).toEqual(expected);
    }
  });

  it('keeps a partial line until its terminator arrives', () => {
    const s = new AtLineSplitter();
    expect(s.push('+CSQ: 2')).toEqual([]);
    expect(s.hasPartial).toBe(true);
    expect(s.push('3,99\r')).toEqual([line('+CSQ: 23,99')]);
    expect(s.push('\nO')).toEqual([]);
    expect(s.push('K\r\n')).toEqual([line('OK')]);
    expect(s.hasPartial).toBe(false);
  });

  it('gives "> " as a prompt token without a line ending, and a lone ">" line as one too', () => {
    expect(tokensOf(['AT+CMGS="+4915112345678"\r\r\n> ']).tokens).toEqual([line('AT+CMGS="+4915112345678"'), prompt]);
    expect(tokensOf(['\r\n>', ' ']).tokens).toEqual([prompt]);
    expect(tokensOf(['\r\n>\r\n']).tokens).toEqual([prompt]);
    // the modem echoing the payload after the prompt, Ctrl-Z stripped as garbage
    const echoed = tokensOf(['> hello\x1a\r\n+CMGS: 12\r\n\r\nOK\r\n']);
    expect(echoed.tokens).toEqual([prompt, line('hello'), line('+CMGS: 12'), line('OK')]);
    expect(echoed.garbage).toBe(1);
    // not at the start of a line: text
    expect(tokensOf(['a> b\r\n']).tokens).toEqual([line('a> b')]);
  });

  it('strips and counts control bytes and every byte above 0x7F, so noise glued to a line leaves it intact', () => {
    const r = tokensOf([Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x52, 0x00, 0x44, 0x59, 0x0d, 0x0a, 0x1b, 0x7f])]);
    expect(r.tokens).toEqual([line('RDY')]);
    expect(r.garbage).toBe(5);
    const glued = tokensOf([Buffer.from([0xc3, 0xa9, 0x4f, 0x4b, 0x0d, 0x0a])]); // "éOK": valid UTF-8, still noise
    expect(glued.tokens).toEqual([line('OK')]);
    expect(glued.garbage).toBe(2);
    expect(tokensOf([Buffer.from([0x80, 0x81, 0x0d, 0x0a])]).tokens).toEqual([]); // a line of noise is no line
  });

  it('drops a line longer than the bound whole, counts it, and carries on with the next', () => {
    const s = new AtLineSplitter(16);
    expect(s.push('x'.repeat(10))).toEqual([]);
    expect(s.push('y'.repeat(1000))).toEqual([]); // memory stays bounded: nothing grows past 16 bytes
    expect(s.push('\r\nOK\r\n')).toEqual([{ kind: 'malformed', length: 1010 }, line('OK')]);
    expect(s.malformedLines).toBe(1);
    expect(tokensOf(['x'.repeat(16) + '\r\n'], 16).tokens).toEqual([line('x'.repeat(16))]);
  });

  it('reset() forgets a partial line', () => {
    const s = new AtLineSplitter();
    s.push('+CS');
    s.reset();
    expect(s.push('OK\r\n')).toEqual([line('OK')]);
  });

  const pieces = [
    'AT+CSQ\r', '\r\n+CSQ: 23,99\r\n', '\r\nOK\r\n', '\r\nERROR\r\n', '\r\n+CME ERROR: 10\r\n', '\r\nRING\r\n',
    '\r\n+CEREG: 5\r\n', '\r\n> ', 'hello\x1a', '\x00\xff', '\r\r\n', '\n', '\r\nRDY\r\n', '\r\n+QIND: PB DONE\r\n',
    'AT+CREG?\r', '\r\n+CREG: 2,1,"1A2B","01A2B3C",7\r\n', 'x'.repeat(40), '\r\n>\r\n', '\t \r\n', 'é€',
  ];
  const streamArb = fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((p) => Buffer.from(p.join(''), 'latin1'));
  const bytesArb = fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b));
  const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 });

  it('gives the same tokens and counts wherever a scripted reply stream is cut (fast-check)', () => {
    fc.assert(
      fc.property(streamArb, cutsArb, fc.constantFrom(32, 4096), (whole, at, max) => {
        const expected = tokensOf([whole], max);
        expect(tokensOf(cut(whole, at), max)).toEqual(expected);
        expect(tokensOf(bytewise(whole), max)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on random bytes, yields only printable trimmed lines, and is split-invariant (fast-check)', () => {
    fc.assert(
      fc.property(bytesArb, cutsArb, (whole, at) => {
        const whole1 = tokensOf([whole], 64);
        expect(tokensOf(cut(whole, at), 64)).toEqual(whole1);
        expect(tokensOf(bytewise(whole), 64)).toEqual(whole1);
        for (const t of whole1.tokens) {
          if (t.kind !== 'line') continue;
          expect([...t.text].some((c) => (c < ' ' && c !== '\t') || c > '~')).toBe(false);
          expect(t.text).toBe(t.text.trim());
          expect(t.text.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('isEchoOf', () => {
  it('matches the command regardless of case and blanks, nothing else', () => {
    expect(isEchoOf('AT+CSQ', 'AT+CSQ')).toBe(true);
    expect(isEchoOf('at+csq ', 'AT+CSQ')).toBe(true);
    expect(isEchoOf('AT+CSQ', 'AT+CSQ?')).toBe(false);
    expect(isEchoOf('+CSQ: 1,2', 'AT+CSQ')).toBe(false);
  });
});

describe('parseFinal', () => {
  it('knows every final result code and nothing else', () => {
    expect(parseFinal('OK')).toEqual({ kind: 'ok', line: 'OK' });
    expect(parseFinal('ERROR')).toEqual({ kind: 'error', line: 'ERROR' });
    expect(parseFinal('+CME ERROR: 10')).toEqual({ kind: 'error', line: '+CME ERROR: 10', cme: 10 });
    expect(parseFinal('+CME ERROR: SIM not inserted')).toEqual({ kind: 'error', line: '+CME ERROR: SIM not inserted', cme: 'SIM not inserted' });
    expect(parseFinal('+CMS ERROR: 500')).toEqual({ kind: 'error', line: '+CMS ERROR: 500', cms: 500 });
    for (const w of ['NO CARRIER', 'BUSY', 'NO ANSWER', 'NO DIALTONE']) expect(parseFinal(w)).toEqual({ kind: 'failure', line: w });
    expect(parseFinal('CONNECT')).toEqual({ kind: 'connect', line: 'CONNECT' });
    expect(parseFinal('CONNECT 150000000')).toEqual({ kind: 'connect', line: 'CONNECT 150000000', text: '150000000' });
    for (const l of ['OKAY', '+CSQ: 23,99', 'RING', 'CONNECTED', 'ERROR 3', '+CME ERROR', '']) expect(parseFinal(l)).toBeUndefined();
  });
});

describe('command and line names', () => {
  it('extracts extended command names, for compound commands too', () => {
    expect(commandNames('AT+CREG?')).toEqual(['+CREG']);
    expect(commandNames('AT+QGPSLOC=2')).toEqual(['+QGPSLOC']);
    expect(commandNames('at+csq')).toEqual(['+CSQ']);
    expect(commandNames('AT+CEREG=2;+C5GREG=2')).toEqual(['+CEREG', '+C5GREG']);
    expect(commandNames('AT^SYSINFO')).toEqual(['^SYSINFO']);
    expect(commandNames('ATI')).toEqual([]);
    expect(commandNames('AT')).toEqual([]);
    expect(commandNames('ATE0')).toEqual([]);
  });

  it('reads the name before the colon of a reply or URC line', () => {
    expect(lineName('+CREG: 1,5')).toBe('+CREG');
    expect(lineName('+QGPSLOC: 120000.0,...')).toBe('+QGPSLOC');
    expect(lineName('RING')).toBeUndefined();
    expect(lineName('Quectel')).toBeUndefined();
  });
});

describe('classifyLine: the URC-versus-reply rule', () => {
  const urcs = new UrcMatcher();
  const inFlight = (c: string): string[] => commandNames(c);

  it('takes a line named like the command in flight as its reply, even when the name is a URC', () => {
    expect(classifyLine('+CREG: 1,5', inFlight('AT+CREG?'), urcs)).toEqual({ role: 'intermediate' });
    expect(classifyLine('+CPIN: READY', inFlight('AT+CPIN?'), urcs)).toEqual({ role: 'intermediate' });
    expect(classifyLine('+CSQ: 23,99', inFlight('AT+CSQ'), urcs)).toEqual({ role: 'intermediate' });
    expect(classifyLine('+CEREG: 2,1', inFlight('AT+CREG?;+CEREG?'), urcs)).toEqual({ role: 'intermediate' });
  });

  it('takes a known URC as unsolicited anywhere else, also inside another reply', () => {
    expect(classifyLine('+CREG: 5', undefined, urcs)).toEqual({ role: 'unsolicited', known: true });
    expect(classifyLine('+CREG: 5', inFlight('AT+CSQ'), urcs)).toEqual({ role: 'unsolicited', known: true });
    expect(classifyLine('+CPIN: READY', inFlight('AT+CSQ'), urcs)).toEqual({ role: 'unsolicited', known: true });
    for (const l of ['RING', 'RDY', 'POWERED DOWN', '+QIND: SMS DONE', '+QIURC: "pdpdeact",1', '+QUSIM: 1', '+CFUN: 1', '+QGPSURC: "xtradata"', '+C5GREG: 1', '+CGREG: 1']) {
      expect(classifyLine(l, inFlight('ATI'), urcs)).toEqual({ role: 'unsolicited', known: true });
    }
  });

  it('takes other lines as intermediate with a command in flight, as unknown unsolicited without', () => {
    expect(classifyLine('Quectel', inFlight('ATI'), urcs)).toEqual({ role: 'intermediate' });
    expect(classifyLine('867698041234567', inFlight('AT+CGSN'), urcs)).toEqual({ role: 'intermediate' });
    expect(classifyLine('Quectel', undefined, urcs)).toEqual({ role: 'unsolicited', known: false });
  });

  it('ends the command with a final result code; with nothing in flight, drops it (NO CARRIER excepted)', () => {
    expect(classifyLine('OK', inFlight('AT'), urcs)).toMatchObject({ role: 'final', final: { kind: 'ok' } });
    expect(classifyLine('NO CARRIER', inFlight('ATD*99#'), urcs)).toMatchObject({ role: 'final', final: { kind: 'failure' } });
    expect(classifyLine('OK', undefined, urcs)).toMatchObject({ role: 'stray' });
    expect(classifyLine('+CME ERROR: 10', undefined, urcs)).toMatchObject({ role: 'stray' });
    expect(classifyLine('NO CARRIER', undefined, urcs)).toEqual({ role: 'unsolicited', known: true });
  });

  it('accepts extra URC patterns (prefixes and whole words)', () => {
    const custom = new UrcMatcher(['+XYZ:', 'HELLO']);
    expect(classifyLine('+XYZ: 1', inFlight('AT+CSQ'), custom)).toEqual({ role: 'unsolicited', known: true });
    expect(classifyLine('HELLO', inFlight('AT+CSQ'), custom)).toEqual({ role: 'unsolicited', known: true });
    expect(classifyLine('HELLO THERE', inFlight('AT+CSQ'), custom)).toEqual({ role: 'intermediate' });
  });

  it('never throws, whatever the line (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.option(fc.string({ maxLength: 30 }), { nil: undefined }), (l, cmd) => {
        classifyLine(l, cmd === undefined ? undefined : commandNames(cmd), urcs);
        parseFinal(l);
      }),
      { numRuns: 300 },
    );
  });
});
