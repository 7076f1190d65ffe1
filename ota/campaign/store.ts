/**
 * The campaign's persisted state (docs/OTA.md, "Campaign states"): the current campaign, every
 * transition with a `reported` flag, the boot state, the inventory and the audit log, in one
 * SQLite file (db.ts). Each transition is one transaction: the campaign row, the transition row,
 * the audit entry, and for a commit the inventory and the boot state too. A restart therefore
 * finds either the state before a step or the state after it, never a mix.
 */
import type { Clock } from '../../core/clock.js';
import { TcuError, type ErrorCode } from '../../core/errors.js';
import { Inventory, type InventoryReport } from '../inventory.js';
import { AuditLog } from './audit.js';
import { inTransaction, openOtaDatabase, type OtaDatabase } from './db.js';
import { isFinal, transition, type Campaign, type CampaignEvent, type CampaignEventType, type CampaignStateName, type PreconditionReason } from './states.js';

export type BootPhase = 'none' | 'activating' | 'trying';

/** What the next boots must do (docs/OTA.md, "Boot state and health check"). */
export interface BootState {
  /** none: nothing on trial. activating: installed, the switch to the new slot under way. trying: the new slot is on trial. */
  phase: BootPhase;
  campaign: string | null;
  /** The slot that ran when the install began (the one to fall back to). */
  previousSlot: string | null;
  /** The slot on trial, once activated. */
  targetSlot: string | null;
  /** Boots of the slot on trial so far, none of them confirmed. */
  attempts: number;
  updatedAt: number;
}

export const NO_BOOT_STATE: Omit<BootState, 'updatedAt'> = { phase: 'none', campaign: null, previousSlot: null, targetSlot: null, attempts: 0 };

/** What each report carries (the agent publishes it over MQTT). */
export interface ReportDetails {
  /** The transition's number: the same report sent twice has the same seq, so the cloud drops the copy. */
  seq: number;
  campaign: string;
  ecu: string;
  target: string;
  version: string | null;
  releaseCounter: number | null;
  event: CampaignEventType;
  from: CampaignStateName;
  /** failed, rolled-back: why; a deferral: why it waits. */
  code: ErrorCode | null;
  detail: string | null;
  /** With OTA_PRECONDITION (and OTA_NETWORK_POLICY): which precondition, a stable code (soc, parked, ignition, workshop, consent, network). */
  reason?: PreconditionReason;
  /** ISO 8601. */
  at: string;
  /** The inventory before (at the start) and after (when the campaign ends) the update. */
  inventory?: InventoryReport;
  /** The audit log's head hash after this step, to anchor the chain in the cloud. */
  auditHead: string;
}

export interface TransitionRecord {
  seq: number;
  campaign: string;
  from: CampaignStateName;
  to: CampaignStateName;
  event: CampaignEventType;
  details: ReportDetails;
  at: number;
  reported: boolean;
}

interface TransitionRow {
  seq: number;
  campaign: string;
  from_state: CampaignStateName;
  to_state: CampaignStateName;
  event: CampaignEventType;
  details: string;
  at: number;
  reported: number;
}

function toRecord(r: TransitionRow): TransitionRecord {
  return { seq: r.seq, campaign: r.campaign, from: r.from_state, to: r.to_state, event: r.event, details: JSON.parse(r.details) as ReportDetails, at: r.at, reported: r.reported === 1 };
}

export interface CampaignStoreOptions {
  /** The SQLite file, e.g. `<state-dir>/ota.db`. */
  path: string;
  clock: Clock;
}

export class CampaignStore {
  readonly audit: AuditLog;
  readonly inventory: Inventory;

  private constructor(
    private readonly db: OtaDatabase,
    private readonly clock: Clock,
  ) {
    this.audit = new AuditLog(db, clock);
    this.inventory = new Inventory(db, clock);
  }

  static open(options: CampaignStoreOptions): CampaignStore {
    return new CampaignStore(openOtaDatabase(options.path), options.clock);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The latest campaign (null when there has never been one: idle). */
  current(): Campaign | null {
    const row = this.db.prepare<[], { data: string }>('SELECT data FROM campaigns ORDER BY ord DESC LIMIT 1').get();
    if (!row) return null;
    try {
      return JSON.parse(row.data) as Campaign;
    } catch (err) {
      throw new TcuError('OTA_STATE', 'the current campaign in the OTA state store is not JSON', { cause: err });
    }
  }

  /**
   * Applies one event in one transaction: the campaign, its transition (unreported), an audit entry,
   * and `bootState` when given. A `committed` event also writes the inventory entry of the target:
   * nothing else changes the inventory.
   */
  apply(event: CampaignEvent, options: { bootState?: Omit<BootState, 'updatedAt'>; audit?: Record<string, unknown> } = {}): Campaign {
    return inTransaction(this.db, () => {
      const before = this.current();
      const now = this.clock.now();
      if (event.type === 'start' && this.hasCampaign(event.id)) {
        throw new TcuError('OTA_STATE', `campaign id ${event.id} was used before`, { details: { campaign: event.id } });
      }
      const after = transition(before, event, now);
      this.db
        .prepare('INSERT INTO campaigns (id, state, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, data = excluded.data')
        .run(after.id, after.state, JSON.stringify(after));
      if (event.type === 'committed') this.inventory.commitTarget(after.ecu, after.target, after.id);
      if (options.bootState) this.writeBootState(options.bootState, now);
      const from: CampaignStateName = event.type === 'start' ? 'idle' : (before?.state ?? 'idle');
      const reason = after.reason === undefined ? {} : { reason: after.reason };
      const cause = after.cause === undefined ? {} : { cause: after.cause };
      const entry = this.audit.append(
        `campaign.${event.type}`,
        { from, to: after.state, target: after.target.name, version: after.target.custom.version ?? null, code: after.code, detail: after.detail, ...reason, ...cause, ...options.audit },
        after.id,
      );
      const withInventory = event.type === 'start' || isFinal(after.state);
      const details: ReportDetails = {
        seq: 0,
        campaign: after.id,
        ecu: after.ecu,
        target: after.target.name,
        version: after.target.custom.version ?? null,
        releaseCounter: after.target.custom.releaseCounter ?? null,
        event: event.type,
        from,
        code: after.code,
        detail: after.detail,
        ...reason,
        at: new Date(now).toISOString(),
        inventory: withInventory ? this.inventory.report() : undefined,
        auditHead: entry.hash,
      };
      const info = this.db
        .prepare('INSERT INTO transitions (campaign, from_state, to_state, event, details, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(after.id, from, after.state, event.type, '{}', now);
      const seq = Number(info.lastInsertRowid);
      this.db.prepare('UPDATE transitions SET details = ? WHERE seq = ?').run(JSON.stringify({ ...details, seq }), seq);
      return after;
    });
  }

  hasCampaign(id: string): boolean {
    return this.db.prepare<[string], number>('SELECT 1 FROM campaigns WHERE id = ?').pluck().get(id) !== undefined;
  }

  bootState(): BootState {
    const row = this.db.prepare<[], { data: string }>('SELECT data FROM boot_state WHERE id = 1').get();
    if (!row) return { ...NO_BOOT_STATE, updatedAt: 0 };
    try {
      return JSON.parse(row.data) as BootState;
    } catch (err) {
      throw new TcuError('OTA_STATE', 'the boot state in the OTA state store is not JSON', { cause: err });
    }
  }

  /** Writes the boot state and an audit entry for it, in one transaction. */
  setBootState(state: Omit<BootState, 'updatedAt'>, auditEvent: string, auditDetails: Record<string, unknown> = {}): BootState {
    return inTransaction(this.db, () => {
      const written = this.writeBootState(state, this.clock.now());
      this.audit.append(auditEvent, { ...auditDetails, phase: state.phase, previousSlot: state.previousSlot, targetSlot: state.targetSlot, attempts: state.attempts }, state.campaign);
      return written;
    });
  }

  private writeBootState(state: Omit<BootState, 'updatedAt'>, now: number): BootState {
    const written: BootState = { ...state, updatedAt: now };
    this.db.prepare('INSERT INTO boot_state (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data').run(JSON.stringify(written));
    return written;
  }

  /** An audit entry for a step that is not a transition (install started, health result, ...). */
  record(event: string, details: Record<string, unknown>, campaign: string | null): void {
    this.audit.append(event, details, campaign);
  }

  /** Transitions not yet reported, oldest first. */
  unreported(): TransitionRecord[] {
    return this.db.prepare<[], TransitionRow>('SELECT * FROM transitions WHERE reported = 0 ORDER BY seq').all().map(toRecord);
  }

  markReported(seq: number): void {
    inTransaction(this.db, () => this.db.prepare('UPDATE transitions SET reported = 1 WHERE seq = ?').run(seq));
  }

  /** Every transition (of one campaign), oldest first. */
  transitions(campaign?: string): TransitionRecord[] {
    const rows = this.db.prepare<[], TransitionRow>('SELECT * FROM transitions ORDER BY seq').all();
    return rows.filter((r) => campaign === undefined || r.campaign === campaign).map(toRecord);
  }
}
