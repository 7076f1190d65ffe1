/**
 * The wire form of a record, encoded once at commit: a plain CBOR map `{seq, ts, kind, ...body}`
 * (header keys first, then the body's keys in `Object.keys` order). No cbor-x record extension,
 * no tags on maps or byte strings: any CBOR library decodes it. Integers (a millisecond `ts` too)
 * are CBOR integers; see `cbor-writer.ts` for the number forms.
 */
import { TcuError } from '../../core/errors.js';
import { PRIORITIES, type RecordInput, type RecordKind } from '../records.js';
import { CborWriter } from './cbor-writer.js';

const KINDS: readonly RecordKind[] = ['signals', 'event', 'status', 'modem', 'location'];
const PRIORITY_VALUES: readonly number[] = Object.values(PRIORITIES);

export type RecordEncoder = (seq: number, record: RecordInput, index: number) => Buffer;

function invalid(index: number, reason: string, cause?: unknown): TcuError {
  return new TcuError('OUTBOX_RECORD_INVALID', `record ${index} of the batch is invalid: ${reason}`, {
    details: { index, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Checks what the outbox relies on; throws OUTBOX_RECORD_INVALID naming the record's index. */
export function validateRecord(record: RecordInput, index: number): void {
  if (!KINDS.includes(record.kind)) throw invalid(index, `unknown kind ${JSON.stringify(record.kind)}`);
  if (!PRIORITY_VALUES.includes(record.priority)) throw invalid(index, `priority ${String(record.priority)} is not 0..3`);
  if (typeof record.ts !== 'number' || !Number.isFinite(record.ts)) throw invalid(index, `ts ${String(record.ts)} is not a finite number`);
  const body: unknown = record.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid(index, 'body is not an object');
}

/** One encoder per outbox (its writer keeps a buffer and a key cache, so none is shared). */
export function createRecordEncoder(): RecordEncoder {
  const w = new CborWriter();
  return (seq, record, index) => {
    validateRecord(record, index);
    const body = record.body;
    const keys = Object.keys(body);
    w.reset();
    w.head(5, keys.length + 3);
    w.key('seq');
    w.number(seq);
    w.key('ts');
    w.number(record.ts);
    w.key('kind');
    w.key(record.kind);
    for (const k of keys) {
      if (k === 'seq' || k === 'ts' || k === 'kind') throw invalid(index, `body has the reserved key "${k}" (the header's seq, ts, kind)`);
      w.key(k);
      try {
        w.value(body[k]);
      } catch (err) {
        throw invalid(index, `body.${k} cannot be encoded as CBOR (${err instanceof Error ? err.message : String(err)})`, err);
      }
    }
    return w.take();
  };
}
