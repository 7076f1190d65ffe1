/** MQTT topic names of the uplink (docs/PROTOCOL.md). */
import { TcuError } from '../../core/errors.js';
import type { RecordKind } from '../records.js';

/** Where a record goes: measurements (`signals`, `modem`, `location`) to telemetry; `event`, `status` (and any later kind) to events. */
export type Channel = 'telemetry' | 'events';

export function channelOf(kind: RecordKind): Channel {
  return kind === 'signals' || kind === 'modem' || kind === 'location' ? 'telemetry' : 'events';
}

/** Command names: letters, digits, `_` and `-`, 1 to 64 characters. */
export const COMMAND_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface Topics {
  readonly base: string;
  readonly telemetry: string;
  readonly events: string;
  readonly status: string;
  /** The subscription for commands: `<base>/cmd/+`. */
  readonly commandFilter: string;
  channel(channel: Channel): string;
  commandResponse(name: string): string;
  /** The command name of a topic under `<base>/cmd/`, or undefined for any other topic. */
  commandName(topic: string): string | undefined;
}

/** A topic level or prefix must not contain wildcards or NUL; the VIN must be one level. */
function checkName(what: string, value: string, allowSlash: boolean): void {
  const bad = value.includes('+') || value.includes('#') || value.includes('\u0000') || (!allowSlash && value.includes('/'));
  if (value.length === 0 || bad || (allowSlash && (value.startsWith('/') || value.endsWith('/') || value.includes('//')))) {
    throw new TcuError('CONFIG_INVALID', `${what} "${value}" is not usable in an MQTT topic (empty, wildcard, NUL${allowSlash ? ', empty level' : ' or /'})`, {
      details: { [what]: value },
    });
  }
}

export function makeTopics(prefix: string, vin: string): Topics {
  checkName('topicPrefix', prefix, true);
  checkName('vin', vin, false);
  const base = `${prefix}/${vin}`;
  const telemetry = `${base}/telemetry`;
  const events = `${base}/events`;
  const cmd = `${base}/cmd/`;
  return {
    base,
    telemetry,
    events,
    status: `${base}/status`,
    commandFilter: `${base}/cmd/+`,
    channel: (c) => (c === 'telemetry' ? telemetry : events),
    commandResponse: (name) => `${base}/cmd-resp/${name}`,
    commandName: (topic) => (topic.startsWith(cmd) ? topic.slice(cmd.length) : undefined),
  };
}
