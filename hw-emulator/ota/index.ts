/** The emulator's OTA repository server (docs/EMULATOR.md, "OTA repository server"). */
export { OTA_FAULT_HELP, dropPoint, faultApplies, formatFault, parseFault, type OtaFault, type OtaFaultKind } from './faults.js';
export { contentRange, parseRangeRequest, type RangeRequest } from './range.js';
export { OTA_SERVER_COUNTER_NAMES, OtaRepoServer, type OtaRepoServerOptions, type OtaRequestRecord, type OtaServerCounterName } from './server.js';
