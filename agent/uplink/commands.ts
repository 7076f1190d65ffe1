/**
 * Commands from the cloud: `<prefix>/<vin>/cmd/<name>` in, a response out (docs/PROTOCOL.md).
 *
 * A request is a CBOR map `{ "id"?: text | integer, "args"?: map }` (an empty payload is `{}`;
 * JSON is not accepted). Whatever arrives, the answer is a response, never an exception: an
 * unknown name, a payload that is not a CBOR map, wrong field types or an oversize payload get
 * `{ ok: false, error: { code, message } }` and a count per code. Handlers come from a registry
 * the agent fills; the uplink adds `ping`, `status` and `flush`.
 */
import type { Clock } from '../../core/clock.js';
import { TcuError, isTcuError, type ErrorCode } from '../../core/errors.js';
import { COMMAND_NAME, type Topics } from './topics.js';
import { createWireDecoder, createWireEncoder } from './wire.js';

export interface CommandRequest {
  /** The command name: the last level of the request topic. */
  name: string;
  /** The request's `id`, echoed in the response (the correlation for MQTT 3.1.1). */
  id?: string | number;
  /** The request's `args` map; `{}` when absent. */
  args: Record<string, unknown>;
}

/** What a handler returns goes into the response map beside `v`, `ok`, `cmd` and `id`. */
export type CommandResult = Record<string, unknown>;
/** Throws (or rejects with) a TcuError to answer `ok: false` with its code. */
export type CommandHandler = (request: CommandRequest) => CommandResult | Promise<CommandResult>;
export type CommandRegistry = ReadonlyMap<string, CommandHandler>;

export const COMMAND_ERROR_CODES = [
  'UPLINK_COMMAND_UNKNOWN',
  'UPLINK_COMMAND_MALFORMED',
  'UPLINK_COMMAND_OVERSIZE',
  'UPLINK_COMMAND_FAILED',
  'UPLINK_COMMAND_TIMEOUT',
] as const satisfies readonly ErrorCode[];

/** MQTT 5 request properties the response honours. */
export interface RequestProperties {
  responseTopic?: string;
  correlationData?: Buffer;
}

export interface CommandResponse {
  topic: string;
  payload: Buffer;
  /** MQTT 5 only: the request's correlation data, echoed. */
  correlationData?: Buffer;
  /** The decoded response map, for tests and logs. */
  body: Record<string, unknown>;
}

export interface CommandProcessorOptions {
  topics: Topics;
  handlers: CommandRegistry;
  clock: Clock;
  /** Larger payloads are refused without parsing them (UPLINK_COMMAND_OVERSIZE). Default 16384. */
  maxBytes?: number;
  /** A handler that takes longer is answered UPLINK_COMMAND_TIMEOUT. Default 30 000 ms. */
  timeoutMs?: number;
  /** Every refused or failed command, once each. */
  onError?: (err: TcuError) => void;
}

export type ParsedCommand = { ok: true; request: CommandRequest } | { ok: false; id?: string | number; error: TcuError };

const MAX_ID_LENGTH = 256;

function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isValidId(id: unknown): id is string | number {
  return (typeof id === 'string' && id.length <= MAX_ID_LENGTH) || (typeof id === 'number' && Number.isSafeInteger(id));
}

export class CommandProcessor {
  // Per instance: cbor-x encoders and decoders keep state between calls.
  private readonly decoder = createWireDecoder();
  private readonly encoder = createWireEncoder();
  private readonly errors = new Map<string, number>();
  private readonly maxBytes: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: CommandProcessorOptions) {
    this.maxBytes = options.maxBytes ?? 16_384;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Refused or failed commands per error code. */
  errorCounts(): Record<string, number> {
    return Object.fromEntries(this.errors);
  }

  /** Validates a request without running it. Never throws. */
  parse(name: string, payload: Uint8Array): ParsedCommand {
    const malformed = (message: string, id?: string | number): ParsedCommand => ({
      ok: false,
      ...(id === undefined ? {} : { id }),
      error: new TcuError('UPLINK_COMMAND_MALFORMED', message, { details: { name } }),
    });
    if (payload.length > this.maxBytes) {
      return { ok: false, error: new TcuError('UPLINK_COMMAND_OVERSIZE', `command payload of ${payload.length} bytes is over the limit of ${this.maxBytes}`, { details: { name, bytes: payload.length } }) };
    }
    let decoded: unknown = {};
    if (payload.length > 0) {
      try {
        decoded = this.decoder.decode(payload);
      } catch (err) {
        return malformed(`command payload is not CBOR (JSON is not accepted): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!isPlainMap(decoded)) return malformed('command payload must be a CBOR map');
    const { id, args } = decoded;
    if (id !== undefined && !isValidId(id)) return malformed(`"id" must be a text of at most ${MAX_ID_LENGTH} characters or an integer`);
    if (args !== undefined && !isPlainMap(args)) return malformed('"args" must be a map', id);
    if (!COMMAND_NAME.test(name) || !this.options.handlers.has(name)) {
      return { ok: false, ...(id === undefined ? {} : { id }), error: new TcuError('UPLINK_COMMAND_UNKNOWN', `unknown command "${name}"`, { details: { name } }) };
    }
    return { ok: true, request: { name, ...(id === undefined ? {} : { id }), args: args ?? {} } };
  }

  /**
   * Validates and runs a command that came on `topic`; resolves to the response to publish, or
   * undefined for a topic that is not a command topic. Never rejects.
   */
  async handle(topic: string, payload: Uint8Array, properties: RequestProperties = {}): Promise<CommandResponse | undefined> {
    const name = this.options.topics.commandName(topic);
    if (name === undefined) return undefined;
    const parsed = this.parse(name, payload);
    let body: Record<string, unknown>;
    if (!parsed.ok) {
      body = this.failure(name, parsed.id, parsed.error);
    } else {
      const { request } = parsed;
      try {
        const result = await this.run(request);
        body = { ...result, v: 1, ok: true, cmd: name, ...(request.id === undefined ? {} : { id: request.id }) };
      } catch (err) {
        const error = isTcuError(err) ? err : new TcuError('UPLINK_COMMAND_FAILED', `command "${name}" failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { name } });
        body = this.failure(name, request.id, error);
      }
    }
    return this.respond(name, body, properties);
  }

  private run(request: CommandRequest): Promise<CommandResult> {
    const handler = this.options.handlers.get(request.name)!;
    return new Promise<CommandResult>((resolve, reject) => {
      const timer = this.options.clock.setTimeout(() => {
        reject(new TcuError('UPLINK_COMMAND_TIMEOUT', `command "${request.name}" took longer than ${this.timeoutMs} ms`, { details: { name: request.name } }));
      }, this.timeoutMs);
      const done = (): void => this.options.clock.clearTimeout(timer);
      Promise.resolve()
        .then(() => handler(request))
        .then(
          (result) => {
            done();
            resolve(isPlainMap(result) ? result : { result });
          },
          (err: unknown) => {
            done();
            reject(err);
          },
        );
    });
  }

  private failure(name: string, id: string | number | undefined, error: TcuError): Record<string, unknown> {
    this.errors.set(error.code, (this.errors.get(error.code) ?? 0) + 1);
    try {
      this.options.onError?.(error);
    } catch {
      // a reporting callback that throws must not cost the response
    }
    return { v: 1, ok: false, cmd: name, ...(id === undefined ? {} : { id }), error: { code: error.code, message: error.message } };
  }

  private respond(name: string, body: Record<string, unknown>, properties: RequestProperties): CommandResponse {
    let payload: Buffer;
    try {
      payload = this.encoder.encode(body);
    } catch (err) {
      body = this.failure(name, body['id'] as string | number | undefined, new TcuError('UPLINK_COMMAND_FAILED', `the response of "${name}" cannot be encoded as CBOR: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      payload = this.encoder.encode(body);
    }
    const requested = properties.responseTopic;
    const topic = requested !== undefined && requested.length > 0 && !/[+#]/.test(requested) ? requested : this.options.topics.commandResponse(name);
    return { topic, payload, body, ...(properties.correlationData === undefined ? {} : { correlationData: properties.correlationData }) };
  }
}
