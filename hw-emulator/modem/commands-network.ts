import { q } from './at-syntax.js';
import { fail, intArg, ok, REG_DOMAINS, type Handler, type HandlerContext, type NetworkView, type RegDomain } from './context.js';
import { csqIndex, HOME_OPERATOR, hex, ROAMING_OPERATOR, type Operator } from './network.js';

/**
 * Network commands, Quectel flavour: `+CREG/+CGREG/+CEREG/+C5GREG`, `+COPS`, `+CSQ`, `+QCSQ`,
 * `+QENG="servingcell"`, `+QNWINFO`, `+QSPN`, `+CGATT`, `+CGACT`, `+CGDCONT`, `+CGPADDR`.
 */

/** E-UTRAN in the `<AcT>` field of 27.007. */
const ACT_LTE = 7;

/** `<stat>` of a domain: 5GS registration needs a 5G core, which NSA (LTE anchor) does not use. */
export function domainStat(domain: RegDomain, view: NetworkView): number {
  return domain === '+C5GREG' ? 0 : view.stat;
}

function registered(view: NetworkView): boolean {
  return view.stat === 1 || view.stat === 5;
}

/**
 * The fields after `<n>` in a read response, and the whole of a URC: `<stat>` alone, or with
 * `"<tac>","<ci>",<AcT>` when `n` is 2 and the modem is registered.
 */
export function registrationFields(domain: RegDomain, n: number, view: NetworkView): string {
  const stat = domainStat(domain, view);
  if (n === 2 && stat !== 0 && registered(view) && view.cell) return `${stat},${q(hex(view.cell.tac))},${q(hex(view.cell.cellId))},${ACT_LTE}`;
  return String(stat);
}

/**
 * The URCs for a change from `last` to `view`, as each domain's `<n>` asks: on a change of
 * `<stat>` (n = 1 or 2), and also of the cell while registered (n = 2). 3GPP TS 27.007 §7.2, §10.1.
 */
export function registrationUrcs(last: NetworkView, view: NetworkView, reg: Readonly<Record<RegDomain, number>>, has5g: boolean): string[] {
  const out: string[] = [];
  for (const domain of REG_DOMAINS) {
    const n = reg[domain];
    if (n === 0 || (domain === '+C5GREG' && !has5g)) continue;
    const stat = domainStat(domain, view);
    const statChanged = stat !== domainStat(domain, last);
    const cellChanged = registered(view) && (view.cell?.tac !== last.cell?.tac || view.cell?.cellId !== last.cell?.cellId);
    if (statChanged || (n === 2 && stat !== 0 && cellChanged)) out.push(`${domain}: ${registrationFields(domain, n, view)}`);
  }
  return out;
}

function registration(domain: RegDomain): Handler {
  return (cmd, ctx) => {
    if (domain === '+C5GREG' && ctx.model !== 'RM500Q') return fail(4);
    if (cmd.kind === 'test') return ok(`${domain}: (0-2)`);
    if (cmd.kind === 'read') {
      const n = ctx.settings.reg[domain];
      return ok(`${domain}: ${n},${registrationFields(domain, n, ctx.network())}`);
    }
    const n = cmd.kind === 'exec' ? 0 : intArg(cmd, 0, 0, 2);
    if (n === undefined || cmd.args.length > 1) return fail(50);
    ctx.settings.reg[domain] = n;
    return ok();
  };
}

function operatorName(op: Operator, format: number): string {
  return format === 2 ? `${op.mcc}${op.mnc}` : format === 1 ? op.short : op.long;
}

const cops: Handler = (cmd, ctx) => {
  const s = ctx.settings;
  if (cmd.kind === 'read') {
    const view = ctx.network();
    if (!view.operator) return ok(`+COPS: ${s.copsMode}`);
    return ok(`+COPS: ${s.copsMode},${s.copsFormat},${q(operatorName(view.operator, s.copsFormat))},${ACT_LTE}`);
  }
  if (cmd.kind === 'test') {
    if (!ctx.simPresent) return fail(10);
    const list = [HOME_OPERATOR, ROAMING_OPERATOR].map((op, i) => `(${i === 0 ? 2 : 1},${q(op.long)},${q(op.short)},${q(`${op.mcc}${op.mnc}`)},${ACT_LTE})`);
    return ok(`+COPS: ${list.join(',')},,(0-4),(0-2)`);
  }
  if (cmd.kind === 'exec') return ok();
  const mode = intArg(cmd, 0, 0, 4);
  if (mode === undefined) return fail(50);
  if (mode === 3) {
    const format = intArg(cmd, 1, 0, 2);
    if (format === undefined) return fail(50);
    s.copsFormat = format;
    return ok();
  }
  if (cmd.args.length > 1) {
    const format = intArg(cmd, 1, 0, 2);
    if (format === undefined) return fail(50);
    s.copsFormat = format;
  }
  if (mode === 0 || mode === 2) {
    s.copsMode = mode;
    ctx.radioChanged();
    return ok();
  }
  // Manual selection: only the network the SIM is allowed on (home) is found.
  const wanted = cmd.args[2] ?? '';
  const home = [HOME_OPERATOR.long, HOME_OPERATOR.short, `${HOME_OPERATOR.mcc}${HOME_OPERATOR.mnc}`];
  return home.includes(wanted) ? ok() : fail(30);
};

const csq: Handler = (cmd, ctx) => {
  if (cmd.kind === 'test') return ok('+CSQ: (0-31,99),(0-7,99)');
  if (cmd.kind !== 'exec') return fail(50);
  return ok(`+CSQ: ${csqIndex(ctx.network().signal)},99`);
};

const qcsq: Handler = (cmd, ctx) => {
  if (cmd.kind !== 'exec') return cmd.kind === 'test' ? ok() : fail(50);
  const view = ctx.network();
  const s = view.signal;
  if (!s) return ok('+QCSQ: "NOSERVICE"');
  // <lte_sinr> is in fifths of a dB above -20 dB (0..250).
  const lines = [`+QCSQ: "LTE",${s.rssi},${s.rsrp},${(s.sinr + 20) * 5},${s.rsrq}`];
  if (ctx.model === 'RM500Q' && view.nr) lines.push(`+QCSQ: "NR5G",${s.nrRsrp},${s.nrSinr},${s.nrRsrq}`);
  return ok(...lines);
};

/** The serving cell as `AT+QENG="servingcell"` shows it: one line on EC25, LTE and NR5G-NSA lines on RM500Q. */
export function servingCellLines(ctx: HandlerContext): string[] {
  const view = ctx.network();
  const c = view.cell;
  const s = view.signal;
  if (!c || !s || ctx.settings.cfun !== 1) return ['+QENG: "servingcell","SEARCH"'];
  const state = registered(view) ? 'NOCONN' : 'LIMSRV';
  const op = view.operator ?? (view.stat === 5 ? ROAMING_OPERATOR : HOME_OPERATOR);
  const srxlev = Math.max(0, s.rsrp + 124);
  const common = `"FDD",${op.mcc},${op.mnc},${hex(c.cellId)},${c.pci},${c.earfcn},${c.band},${c.bandwidth},${c.bandwidth},${hex(c.tac)},${s.rsrp},${s.rsrq},${s.rssi},${s.sinr}`;
  if (ctx.model === 'EC25') return [`+QENG: "servingcell",${q(state)},"LTE",${common},${srxlev}`];
  const lines = [`+QENG: "servingcell",${q(state)}`, `+QENG: "LTE",${common},${Math.round((s.sinr + 10) / 3)},-,${srxlev}`];
  if (view.nr && state === 'NOCONN') {
    lines.push(`+QENG: "NR5G-NSA",${op.mcc},${op.mnc},${c.nr.pci},${s.nrRsrp},${s.nrSinr},${s.nrRsrq},${c.nr.arfcn},${c.nr.band},12,1`);
  }
  return lines;
}

const qeng: Handler = (cmd, ctx) => {
  if (cmd.kind === 'test') return ok('+QENG: ("servingcell","neighbourcell")');
  if (cmd.kind !== 'set') return fail(50);
  const what = cmd.args[0]?.toLowerCase();
  if (what === 'servingcell') return ok(...servingCellLines(ctx));
  if (what === 'neighbourcell') return ok();
  return fail(50);
};

const qnwinfo: Handler = (cmd, ctx) => {
  if (cmd.kind !== 'exec') return cmd.kind === 'test' ? ok() : fail(50);
  const view = ctx.network();
  if (!view.operator || !view.cell) return ok('+QNWINFO: No Service');
  const op = view.operator;
  return ok(`+QNWINFO: "FDD LTE",${q(`${op.mcc}${op.mnc}`)},${q(`LTE BAND ${view.cell.band}`)},${view.cell.earfcn}`);
};

const qspn: Handler = (cmd, ctx) => {
  if (cmd.kind !== 'exec') return cmd.kind === 'test' ? ok() : fail(50);
  if (!ctx.simPresent) return fail(10);
  const op = ctx.network().operator;
  const spn = ctx.homeOperator.short;
  if (!op) return ok(`+QSPN: "","",${q(spn)},0,""`);
  return ok(`+QSPN: ${q(op.long)},${q(op.short)},${q(spn)},0,${q(`${op.mcc}${op.mnc}`)}`);
};

const cgatt: Handler = (cmd, ctx) => {
  if (cmd.kind === 'read') return ok(`+CGATT: ${ctx.network().address ? 1 : 0}`);
  if (cmd.kind === 'test') return ok('+CGATT: (0,1)');
  const state = intArg(cmd, 0, 0, 1);
  if (state === undefined) return fail(50);
  if (state === 1 && !registered(ctx.network())) return fail(30);
  ctx.settings.attach = state === 1;
  ctx.radioChanged();
  return ok();
};

const cgact: Handler = (cmd, ctx) => {
  if (cmd.kind === 'read') return ok(...ctx.settings.contexts.map((c) => `+CGACT: ${c.cid},${c.cid === 1 && ctx.network().address ? 1 : 0}`));
  if (cmd.kind === 'test') return ok('+CGACT: (0,1)');
  return intArg(cmd, 0, 0, 1) === undefined ? fail(50) : ok();
};

const cgdcont: Handler = (cmd, ctx) => {
  const contexts = ctx.settings.contexts;
  if (cmd.kind === 'read') return ok(...contexts.map((c) => `+CGDCONT: ${c.cid},${q(c.type)},${q(c.apn)},"0.0.0.0",0,0,0,0`));
  if (cmd.kind === 'test') return ok('+CGDCONT: (1-15),"IP",,,(0-3),(0-4),(0-1),(0-1)', '+CGDCONT: (1-15),"IPV6",,,(0-3),(0-4),(0-1),(0-1)', '+CGDCONT: (1-15),"IPV4V6",,,(0-3),(0-4),(0-1),(0-1)');
  const cid = intArg(cmd, 0, 1, 15);
  if (cid === undefined) return fail(50);
  const index = contexts.findIndex((c) => c.cid === cid);
  if (cmd.args.length === 1) {
    if (index >= 0) contexts.splice(index, 1);
    return ok();
  }
  const type = (cmd.args[1] ?? '').toUpperCase();
  if (!['IP', 'IPV6', 'IPV4V6'].includes(type)) return fail(50);
  const entry = { cid, type, apn: cmd.args[2] ?? '' };
  if (index >= 0) contexts[index] = entry;
  else contexts.push(entry);
  contexts.sort((a, b) => a.cid - b.cid);
  return ok();
};

const cgpaddr: Handler = (cmd, ctx) => {
  if (cmd.kind === 'test') return ok(`+CGPADDR: (${ctx.settings.contexts.map((c) => c.cid).join(',')})`);
  if (cmd.kind === 'read') return fail(50);
  const wanted = cmd.kind === 'set' ? cmd.args.map(Number) : ctx.settings.contexts.map((c) => c.cid);
  if (wanted.some((cid) => !Number.isInteger(cid) || !ctx.settings.contexts.some((c) => c.cid === cid))) return fail(50);
  const address = ctx.network().address;
  // 27.007: the address is left out while the context has none.
  return ok(...wanted.map((cid) => (cid === 1 && address ? `+CGPADDR: ${cid},${q(address)}` : `+CGPADDR: ${cid}`)));
};

export const NETWORK_COMMANDS: Readonly<Record<string, Handler>> = {
  ...Object.fromEntries(REG_DOMAINS.map((d) => [d, registration(d)])),
  '+COPS': cops,
  '+CSQ': csq,
  '+QCSQ': qcsq,
  '+QENG': qeng,
  '+QNWINFO': qnwinfo,
  '+QSPN': qspn,
  '+CGATT': cgatt,
  '+CGACT': cgact,
  '+CGDCONT': cgdcont,
  '+CGPADDR': cgpaddr,
};
