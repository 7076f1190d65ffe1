/**
 * A campaign's target download, shared by the agent (`ota.download` in the configuration) and
 * `tcu-agent ota apply` (`--bandwidth`): into `<state-dir>/downloads/`, resumable, with a bandwidth
 * cap and the slow-retrieval settings, and progress events thinned out for a log or a display.
 */
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { OtaDownloadConfig } from '../../config/index.js';
import { downloadTarget, type DownloadOptions, type DownloadProgress, type NetworkGate } from '../../ota/download/index.js';
import { slotFileName } from '../../ota/install/index.js';
import type { VerifiedTarget } from '../../ota/types.js';
import type { HmiProgress } from './hmi.js';
import { targetLocation } from './shared.js';

export interface CampaignDownload {
  stateDir: string;
  imageRepo: string;
  clock: Clock;
  signal: AbortSignal;
  limits: DownloadLimits;
  networkGate?: NetworkGate;
  /** Progress, at most every `stepPercent` (default 5) or `intervalMs` (default 1000). */
  onProgress?: (p: HmiProgress) => void;
  stepPercent?: number;
  intervalMs?: number;
}

/** Downloads and verifies `target` into `<stateDir>/downloads/`; resolves with the image's path. */
export async function downloadCampaignTarget(target: VerifiedTarget, o: CampaignDownload): Promise<string> {
  const sha256 = target.hashes['sha256'];
  if (sha256 === undefined) throw new TcuError('OTA_METADATA', `target ${target.name} has no sha256 hash`);
  const result = await downloadTarget({
    // consistent_snapshot: as the image repository's trusted root (refreshed just before) says.
    url: targetLocation(o.imageRepo, target.name, { trustedRoot: join(o.stateDir, 'image', 'root.json'), sha256 }),
    dest: join(o.stateDir, 'downloads', slotFileName(target.name)),
    length: target.length,
    sha256,
    clock: o.clock,
    signal: o.signal,
    ...(o.networkGate === undefined ? {} : { networkGate: o.networkGate }),
    ...o.limits,
    ...(o.onProgress === undefined ? {} : { onProgress: throttledProgress(o.clock, o.onProgress, { stepPercent: o.stepPercent ?? 5, intervalMs: o.intervalMs ?? 1000 }) }),
  });
  return result.path;
}

/** The downloader's own default minimum rate (ota/download/downloader.ts). */
const DEFAULT_MIN_RATE = 1024;

export type DownloadLimits = Pick<DownloadOptions, 'bandwidthBytesPerS' | 'minRateBytesPerS' | 'slowWindowMs'>;

/**
 * The downloader's options for `settings`. With a cap and no minimum rate, the minimum rate is the
 * downloader's default or half the cap, whichever is lower (the cap itself must not look slow). A
 * minimum rate above half the cap is CONFIG_INVALID naming `where` (a configuration path or an option).
 */
export function downloadLimits(settings: OtaDownloadConfig | undefined, where = '/ota/download'): DownloadLimits {
  const s = settings ?? {};
  const out: DownloadLimits = {};
  if (s.slowWindowMs !== undefined) out.slowWindowMs = s.slowWindowMs;
  if (s.bandwidthBytesPerS === undefined) {
    if (s.minRateBytesPerS !== undefined) out.minRateBytesPerS = s.minRateBytesPerS;
    return out;
  }
  const cap = s.bandwidthBytesPerS;
  if (!Number.isSafeInteger(cap) || cap < 1) throw new TcuError('CONFIG_INVALID', `${where}: the bandwidth cap must be a whole number of bytes per second, at least 1 (got ${cap})`);
  out.bandwidthBytesPerS = cap;
  if (s.minRateBytesPerS !== undefined && s.minRateBytesPerS > cap / 2) {
    throw new TcuError('CONFIG_INVALID', `${where}/minRateBytesPerS: ${s.minRateBytesPerS} B/s must be at most half the bandwidth cap (${cap} B/s), or the cap itself would look slow`, {
      details: { minRateBytesPerS: s.minRateBytesPerS, bandwidthBytesPerS: cap },
    });
  }
  out.minRateBytesPerS = s.minRateBytesPerS ?? Math.min(DEFAULT_MIN_RATE, Math.floor(cap / 2));
  return out;
}

/** A progress event as a log line or the HMI shows it. */
export function progressOf(p: DownloadProgress): HmiProgress {
  const percent = p.totalBytes === 0 ? 100 : Math.min(100, Math.floor((p.receivedBytes * 100) / p.totalBytes));
  return { receivedBytes: p.receivedBytes, totalBytes: p.totalBytes, percent, bytesPerS: Math.round(p.bytesPerS), etaSeconds: p.etaSeconds === undefined ? null : Math.round(p.etaSeconds) };
}

/**
 * An `onProgress` that passes on at most one event per `stepPercent` crossed or per `intervalMs`
 * (whichever comes first; the first event and 100 % always). `emit` never makes the download fail:
 * what it throws is dropped.
 */
export function throttledProgress(clock: Clock, emit: (p: HmiProgress) => void, options: { stepPercent?: number; intervalMs?: number } = {}): (p: DownloadProgress) => void {
  const step = options.stepPercent ?? 5;
  const interval = options.intervalMs ?? 1000;
  let last: { percent: number; at: number; bytes: number } | undefined;
  return (event) => {
    const p = progressOf(event);
    const now = clock.monotonic();
    const due =
      last === undefined ||
      (p.percent === 100 && last.percent < 100) ||
      Math.floor(p.percent / step) > Math.floor(last.percent / step) ||
      (now - last.at >= interval && p.receivedBytes !== last.bytes);
    if (!due) return;
    last = { percent: p.percent, at: now, bytes: p.receivedBytes };
    try {
      emit(p);
    } catch {
      // a display that fails never stops the download
    }
  };
}
