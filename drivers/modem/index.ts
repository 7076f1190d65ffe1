/**
 * The modem driver's public entry (docs/MODEM.md): AtPort → AtEngine → Modem → the agent.
 * Everything outside drivers/modem imports from here.
 */
export type * from './types.js';

export { AtEngine, type AtEngineOptions } from './engine.js';
export { SerialAtPort, type SerialAtPortOptions, type SerialBinding } from './serial-port.js';

export { Modem, type ChangeListener, type ModemErrorListener, type ModemOptions, type SnapshotListener } from './modem.js';
export { MODEM_COUNTER_NAMES, type ModemCounterName, type ModemCounters, type SnapshotKey } from './modem-state.js';
export { chooseProfile, isQuectel, type ModemProfileName, type ProfileChoice, type QuectelUrcPort } from './profiles/index.js';
export * from './parse/index.js';
