/**
 * A campaign's target download, shared by the agent (`ota.download` in the configuration) and
 * `tcu-agent ota apply` (`--bandwidth`): into `<state-dir>/downloads/<sha256>.<file>`, resumable
 * from `<sha256>.<file>.part`, with a bandwidth cap and the slow-retrieval settings, and progress
 * events thinned out for a log or a display.
 *
 * The partial file is named by the target's hash, not only its name: a release rebuilt under the
 * same name (new hashes) never resumes the bytes of the old one. One campaign runs at a time, so
 * when its download starts the partial downloads of any other target are stale and removed.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { OtaDownloadConfig } from '../../config/index.js';
import { downloadRateProblem } from '../../config/semantic.js';
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

/** `<sha256>.<file>`: where `target` is saved in `downloads/` (its partial download: that + `.part`). */
export function downloadFileName(target: VerifiedTarget): string {
  const sha256 = target.hashes['sha256'];
  if (sha256 === undefined || !/^[0-9a-f]{64}$/i.test(sha256)) throw new TcuError('OTA_METADATA', `target ${target.name} has no valid sha256 hash`);
  return `${sha256.toLowerCase()}.${slotFileName(target.name)}`;
}

/**
 * Removes the partial downloads (`*.part`) in `dir` other than `keep`'s: what a campaign superseded
 * mid-download (or a run before partial files were named by hash) left. Failures are left to the
 * next start: a stale part costs room, not correctness.
 */
export async function removeStaleParts(dir: string, keep: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.endsWith('.part') && n !== `${keep}.part`);
  await Promise.all(stale.map((n) => rm(join(dir, n), { force: true }).catch(() => undefined)));
  return stale;
}

/** Downloads and verifies `target` into `<stateDir>/downloads/<sha256>.<file>`; resolves with the image's path. */
export async function downloadCampaignTarget(target: VerifiedTarget, o: CampaignDownload): Promise<string> {
  const file = downloadFileName(target);
  const sha256 = target.hashes['sha256'] ?? '';
  const dir = join(o.stateDir, 'downloads');
  await removeStaleParts(dir, file);
  const result = await downloadTarget({
    // consistent_snapshot: as the image repository's trusted root (refreshed just before) says.
    url: targetLocation(o.imageRepo, target.name, { trustedRoot: join(o.stateDir, 'image', 'root.json'), sha256 }),
    dest: join(dir, file),
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
  const rateProblem = downloadRateProblem(s); // the loader's rule (config/semantic.ts), for settings that did not come through it
  if (rateProblem !== undefined) {
    throw new TcuError('CONFIG_INVALID', `${where}/minRateBytesPerS: ${rateProblem}`, {
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
