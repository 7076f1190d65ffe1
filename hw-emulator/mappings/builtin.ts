import gwm from './gwm_haval_h6_phev_2024.json' with { type: 'json' };
import hongqi from './hongqi_hs5.json' with { type: 'json' };
import hyundai from './hyundai_2015_mcan.json' with { type: 'json' };
import tesla from './tesla_can.json' with { type: 'json' };
import toyota from './toyota_tss2_adas.json' with { type: 'json' };
import vw from './vw_mqb.json' with { type: 'json' };
import { type EmulatorMapping, parseMapping } from './format.js';

/**
 * The mappings shipped with the emulator, keyed by the DBC file name they were written for. They
 * are imported (not read from disk) so a bundled emulator carries them.
 */
const BUILTIN: Readonly<Record<string, unknown>> = Object.freeze({
  'gwm_haval_h6_phev_2024.dbc': gwm,
  'hongqi_hs5.dbc': hongqi,
  'hyundai_2015_mcan.dbc': hyundai,
  'tesla_can.dbc': tesla,
  'toyota_tss2_adas.dbc': toyota,
  'vw_mqb.dbc': vw,
});

/** DBC file names that have a shipped mapping. */
export function builtinMappingNames(): string[] {
  return Object.keys(BUILTIN);
}

/** The shipped mapping for a DBC file name (a path works too: only its last part counts). */
export function builtinMapping(dbcFile: string): EmulatorMapping | undefined {
  const name = dbcFile.split(/[\\/]/).pop() ?? dbcFile;
  const json = BUILTIN[name];
  return json === undefined ? undefined : parseMapping(json, name.replace(/\.dbc$/i, '.json'));
}
