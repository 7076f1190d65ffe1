import { fail, intArg, ok, type Handler, type HandlerContext, type Identity, type ModemModel } from './context.js';
import { randomInt, type Rng } from '../vehicle/random.js';

/**
 * V.250 basics, identity, SIM, error reporting and power: `AT`, `ATE`, `ATV`, `ATQ`, `ATI`, `AT&F`,
 * `ATZ`, `AT&W`, `+CMEE`, `+CGMI/+CGMM/+CGMR/+GMI/+GMM/+GMR/+QGMR`, `+CGSN/+GSN`, `+CIMI`,
 * `+QCCID/+CCID`, `+CPIN`, `+CFUN`, `+CCLK`.
 */

const REVISIONS: Record<ModemModel, { model: string; revision: string; build: string }> = {
  RM500Q: { model: 'RM500Q-GL', revision: 'RM500QGLABR11A06M4G', build: '01.001.01.001' },
  EC25: { model: 'EC25', revision: 'EC25EFAR06A06M4G', build: '01.005.01.005' },
};

/** A plausible, checksummed identity drawn from the seed (Quectel's IMEI range, a Vodafone.de SIM). */
export function makeIdentity(model: ModemModel, rng: Rng): Identity {
  const digits = (n: number): string => Array.from({ length: n }, () => String(randomInt(rng, 0, 9))).join('');
  const imei = withLuhn(`86675804${digits(6)}`);
  const iccid = withLuhn(`894902${digits(13)}`);
  return { manufacturer: 'Quectel', model: REVISIONS[model].model, revision: REVISIONS[model].revision, imei, imsi: `26202${digits(10)}`, iccid };
}

/** Appends the Luhn check digit (IMEI, ICCID). */
export function withLuhn(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return `${body}${(10 - (sum % 10)) % 10}`;
}

const simOnly =
  (answer: (ctx: HandlerContext) => string[]): Handler =>
  (cmd, ctx) => {
    if (cmd.kind === 'test') return ok();
    if (cmd.kind !== 'exec') return fail(50);
    if (!ctx.simPresent) return fail(10);
    if (!ctx.simReady()) return fail(14);
    return ok(...answer(ctx));
  };

const execOnly =
  (answer: (ctx: HandlerContext) => string[]): Handler =>
  (cmd, ctx) => (cmd.kind === 'exec' ? ok(...answer(ctx)) : cmd.kind === 'test' ? ok() : fail(50));

/** `+CMEE`-style setting `AT+X=<n>` / `AT+X?` / `AT+X=?`. */
function setting(prefix: string, max: number, get: (ctx: HandlerContext) => number, set: (ctx: HandlerContext, n: number) => void): Handler {
  return (cmd, ctx) => {
    if (cmd.kind === 'read') return ok(`${prefix}: ${get(ctx)}`);
    if (cmd.kind === 'test') return ok(`${prefix}: (0-${max})`);
    const n = cmd.kind === 'exec' ? 0 : intArg(cmd, 0, 0, max);
    if (n === undefined || cmd.args.length > 1) return fail(50);
    set(ctx, n);
    return ok();
  };
}

const cfun: Handler = (cmd, ctx) => {
  if (cmd.kind === 'read') return ok(`+CFUN: ${ctx.settings.cfun}`);
  if (cmd.kind === 'test') return ok('+CFUN: (0,1,4),(0-1)');
  const fun = intArg(cmd, 0, 0, 4);
  const reset = cmd.args.length > 1 ? intArg(cmd, 1, 0, 1) : 0;
  if (fun === undefined || fun === 2 || fun === 3 || reset === undefined || cmd.args.length > 2) return fail(50);
  if (reset === 1) {
    if (fun !== 1) return fail(50);
    ctx.requestReset();
    return ok();
  }
  ctx.settings.cfun = fun;
  ctx.radioChanged();
  return ok();
};

const cpin: Handler = (cmd, ctx) => {
  if (cmd.kind === 'test') return ok();
  if (cmd.kind !== 'read') return cmd.kind === 'set' && ctx.simPresent ? fail(3) : fail(ctx.simPresent ? 50 : 10);
  if (!ctx.simPresent) return fail(10);
  if (!ctx.simReady()) return fail(14);
  return ok('+CPIN: READY');
};

const cclk: Handler = (cmd, ctx) => {
  if (cmd.kind !== 'read') return cmd.kind === 'test' ? ok() : fail(3);
  const d = new Date(ctx.now());
  const two = (n: number): string => String(n).padStart(2, '0');
  return ok(`+CCLK: "${two(d.getUTCFullYear() % 100)}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())},${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}+00"`);
};

/** `ATE0`/`ATE1`, `ATV1`, `ATQ0` and other basic commands with a digit. */
function basic(apply: (ctx: HandlerContext, n: number) => boolean): Handler {
  return (cmd, ctx) => {
    const n = cmd.args.length === 0 ? 0 : Number(cmd.args[0]);
    return cmd.kind !== 'read' && apply(ctx, n) ? ok() : fail(50);
  };
}

const restore: Handler = (cmd, ctx) => {
  if (cmd.kind === 'read') return fail(50);
  ctx.restoreDefaults();
  return ok();
};

const manufacturer = execOnly((ctx) => [ctx.identity.manufacturer]);
const modelName = execOnly((ctx) => [ctx.identity.model]);
const revision = execOnly((ctx) => [ctx.identity.revision]);
const serial = execOnly((ctx) => [ctx.identity.imei]);

export const GENERAL_COMMANDS: Readonly<Record<string, Handler>> = {
  '': () => ok(),
  E: basic((ctx, n) => {
    if (n !== 0 && n !== 1) return false;
    ctx.settings.echo = n === 1;
    return true;
  }),
  V: basic((_ctx, n) => n === 1),
  Q: basic((_ctx, n) => n === 0),
  I: (cmd, ctx) => (cmd.kind === 'read' || (cmd.args[0] ?? '0') !== '0' ? fail(50) : ok(ctx.identity.manufacturer, ctx.identity.model, `Revision: ${ctx.identity.revision}`)),
  '&F': restore,
  Z: restore,
  '&W': (cmd) => (cmd.kind === 'read' ? fail(50) : ok()),
  '+CMEE': setting(
    '+CMEE',
    2,
    (ctx) => ctx.settings.cmee,
    (ctx, n) => {
      ctx.settings.cmee = n as 0 | 1 | 2;
    },
  ),
  '+CGMI': manufacturer,
  '+GMI': manufacturer,
  '+CGMM': modelName,
  '+GMM': modelName,
  '+CGMR': revision,
  '+GMR': revision,
  '+QGMR': execOnly((ctx) => [`${ctx.identity.revision}_${REVISIONS[ctx.model].build}`]),
  '+CGSN': serial,
  '+GSN': serial,
  '+CIMI': simOnly((ctx) => [ctx.identity.imsi]),
  '+QCCID': simOnly((ctx) => [`+QCCID: ${ctx.identity.iccid}`]),
  '+CCID': simOnly((ctx) => [`+CCID: ${ctx.identity.iccid}`]),
  '+CPIN': cpin,
  '+CFUN': cfun,
  '+CCLK': cclk,
};
