/** The uplink: outbox → MQTT broker (CBOR payloads, QoS 1, at least once), status, commands in. */
export { Uplink, createUplink, type StopResult, type UplinkEvents, type UplinkState } from './uplink.js';
export { UPLINK_COUNTER_NAMES, type TlsOptions, type UplinkSettings, type UplinkCounters, type UplinkOptions } from './options.js';
export { backoffDelay, resolveBackoff, type BackoffOptions } from './backoff.js';
export { COMMAND_ERROR_CODES, CommandProcessor, type CommandHandler, type CommandRegistry, type CommandRequest, type CommandResult } from './commands.js';
export { DEFAULT_MAX_PAYLOAD_BYTES, PAYLOAD_VERSION, PayloadBuilder, planPayloads, type PayloadPlan, type PlannedPayload } from './payload.js';
export { channelOf, makeTopics, type Channel, type Topics } from './topics.js';
