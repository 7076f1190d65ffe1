/**
 * The software inventory (UN R156: software versions recorded and readable): per ECU, the version,
 * the image hash, the RXSWINs and the release counter of the software installed. It lives in the
 * OTA state store (ota/campaign/db.ts) and changes only in the transaction that commits an update
 * (`CampaignStore.commit`), or by `seed` for an ECU it has never seen (the factory software).
 *
 * `readInventory(path)` reads it without writing (for `tcu-agent inventory`); `inventoryReport`
 * is the JSON the agent sends to the cloud before and after every update (docs/OTA.md, "Inventory").
 */
import type { Clock } from '../core/clock.js';
import { TcuError } from '../core/errors.js';
import { openOtaDatabaseReadOnly, type OtaDatabase } from './campaign/db.js';
import type { VerifiedTarget } from './types.js';

export interface InventoryEntry {
  /** The ECU's name: the TCU's from the configuration, or another ECU a campaign named. */
  ecu: string;
  version: string | null;
  /** SHA-256 (hex) of the installed image. */
  hash: string | null;
  length: number | null;
  /** RX Software Identification Numbers (TargetCustom.rxswin). */
  rxswin: string[];
  releaseCounter: number | null;
  hardwareIds: string[];
  /** The target name it came from. */
  target: string | null;
  /** The campaign that installed it; null for factory software. */
  campaign: string | null;
  source: 'factory' | 'update';
  /** Milliseconds since the epoch. */
  updatedAt: number;
}

export type FactorySoftware = Pick<InventoryEntry, 'ecu' | 'version'> & Partial<Pick<InventoryEntry, 'hash' | 'length' | 'rxswin' | 'releaseCounter' | 'hardwareIds' | 'target'>>;

export interface InventoryReport {
  format: 1;
  /** ISO 8601. */
  at: string;
  ecus: InventoryEntry[];
}

function parseEntry(ecu: string, text: string): InventoryEntry {
  try {
    const o = JSON.parse(text) as InventoryEntry;
    return { ...o, ecu };
  } catch (err) {
    throw new TcuError('OTA_STATE', `the inventory entry of ${ecu} is not JSON`, { cause: err, details: { ecu } });
  }
}

function listFrom(db: OtaDatabase): InventoryEntry[] {
  return db
    .prepare<[], { ecu: string; data: string }>('SELECT ecu, data FROM inventory ORDER BY ecu')
    .all()
    .map((r) => parseEntry(r.ecu, r.data));
}

/** The entry a committed target makes. */
export function entryFor(ecu: string, target: VerifiedTarget, campaign: string, now: number): InventoryEntry {
  const c = target.custom;
  return {
    ecu,
    version: c.version ?? null,
    hash: target.hashes['sha256'] ?? null,
    length: target.length,
    rxswin: c.rxswin ?? [],
    releaseCounter: c.releaseCounter ?? null,
    hardwareIds: c.hardwareIds,
    target: target.name,
    campaign,
    source: 'update',
    updatedAt: now,
  };
}

export class Inventory {
  constructor(
    private readonly db: OtaDatabase,
    private readonly clock: Clock,
  ) {}

  list(): InventoryEntry[] {
    return listFrom(this.db);
  }

  get(ecu: string): InventoryEntry | null {
    const row = this.db.prepare<[string], { data: string }>('SELECT data FROM inventory WHERE ecu = ?').get(ecu);
    return row ? parseEntry(ecu, row.data) : null;
  }

  /** Records an ECU's factory software, only when the inventory has no entry for it. Returns whether it did. */
  seed(software: FactorySoftware): boolean {
    const entry: InventoryEntry = {
      ecu: software.ecu,
      version: software.version,
      hash: software.hash ?? null,
      length: software.length ?? null,
      rxswin: software.rxswin ?? [],
      releaseCounter: software.releaseCounter ?? null,
      hardwareIds: software.hardwareIds ?? [],
      target: software.target ?? null,
      campaign: null,
      source: 'factory',
      updatedAt: this.clock.now(),
    };
    return this.db.prepare('INSERT OR IGNORE INTO inventory (ecu, data) VALUES (?, ?)').run(entry.ecu, JSON.stringify(entry)).changes === 1;
  }

  /**
   * Replaces an ECU's entry with a committed target. Only the campaign's commit calls this, inside
   * the transaction that records the commit.
   */
  commitTarget(ecu: string, target: VerifiedTarget, campaign: string): InventoryEntry {
    const entry = entryFor(ecu, target, campaign, this.clock.now());
    this.db.prepare('INSERT INTO inventory (ecu, data) VALUES (?, ?) ON CONFLICT (ecu) DO UPDATE SET data = excluded.data').run(ecu, JSON.stringify(entry));
    return entry;
  }

  report(): InventoryReport {
    return inventoryReport(this.list(), this.clock.now());
  }
}

/** The JSON form reported to the cloud. */
export function inventoryReport(entries: InventoryEntry[], now: number): InventoryReport {
  return { format: 1, at: new Date(now).toISOString(), ecus: entries };
}

/** Reads the inventory of a state store without writing to it; empty when there is no store yet. */
export function readInventory(path: string): InventoryEntry[] {
  const db = openOtaDatabaseReadOnly(path);
  if (db === null) return [];
  try {
    return listFrom(db);
  } catch (err) {
    if (err instanceof TcuError) throw err;
    throw new TcuError('OTA_STATE', `cannot read the inventory in ${path}: ${(err as Error).message}`, { cause: err, details: { path } });
  } finally {
    db.close();
  }
}
