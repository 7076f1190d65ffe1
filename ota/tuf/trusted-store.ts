import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic, writeFileDurable } from '../../core/atomic-file.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { TufRole } from '../repo/metadata.js';
import type { RoleVersions } from './verify-set.js';

/**
 * The trusted folder `<stateDir>/<name>/` on disk (docs/OTA.md, "Trusted metadata on the vehicle"):
 *
 *   root.json timestamp.json snapshot.json targets.json   the trusted set
 *   previous/<file>                                       the copy each file replaced
 *   commit.json                                           only while a commit is in progress
 *
 * A commit replaces several files, and a power cut must leave either the whole old set or the
 * whole new one. So: (1) each replaced file is copied to previous/ (tmp, fsync, rename; one fsync
 * of previous/); (2) each new file is written as `<file>.new` and fsynced; (3) `commit.json`
 * naming them is written with writeFileAtomic (tmp, fsync, rename, fsync of the folder): the
 * commit point; (4) each `.new` is renamed over its file and the folder fsynced; (5) commit.json
 * is removed. `recoverCommit` (run before every use) rolls a commit forward when
 * commit.json exists and throws away `.new` files when it does not.
 */

export const ROLES_IN_ORDER: readonly TufRole[] = ['root', 'timestamp', 'snapshot', 'targets'];
export const METADATA_FILES = ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json'] as const;
export type MetadataFile = (typeof METADATA_FILES)[number];
export type TrustedFiles = Partial<Record<TufRole, Buffer>>;

const JOURNAL = 'commit.json';

/**
 * Reads the trusted set (missing files are absent). A root.json that is not JSON (a damaged
 * medium: our writes are atomic) is replaced by previous/root.json when that one is readable
 * (unless `recoverRoot` is false: the bytes on disk); tuf-js then walks the rotation chain forward
 * from it again, and the refresh writes the good root back.
 */
export function readTrustedFiles(dir: string, repo: string, recoverRoot = true): TrustedFiles {
  const files: TrustedFiles = {};
  for (const role of ROLES_IN_ORDER) {
    const bytes = readIfExists(join(dir, `${role}.json`), repo);
    if (bytes) files[role] = bytes;
  }
  if (recoverRoot && files.root && !isJson(files.root)) {
    const previous = readIfExists(join(dir, 'previous', 'root.json'), repo);
    if (!previous || !isJson(previous)) throw new TcuError('OTA_METADATA', `${repo} repository: the trusted root.json is damaged and there is no previous copy`, { details: { repository: repo } });
    files.root = previous;
  }
  return files;
}

/** The versions of the roles in `files` that parse (a damaged file is ignored, as tuf-js does). */
export function roleVersions(files: TrustedFiles): Partial<RoleVersions> {
  const versions: Partial<RoleVersions> = {};
  for (const role of ROLES_IN_ORDER) {
    const bytes = files[role];
    if (!bytes) continue;
    try {
      const version = (JSON.parse(bytes.toString('utf8')) as { signed?: { version?: unknown } }).signed?.version;
      if (typeof version === 'number' && Number.isSafeInteger(version)) versions[role] = version;
    } catch {
      // not JSON: no version to protect
    }
  }
  return versions;
}

/** Commits `changed` (file name → new bytes) into `dir` as one set; see the file comment. */
export function commitFiles(dir: string, changed: ReadonlyMap<MetadataFile, Buffer>): void {
  if (changed.size === 0) return;
  const names = [...changed.keys()];
  const previousDir = join(dir, 'previous');
  try {
    mkdirSync(previousDir, { recursive: true });
    // Durable before the commit point, with one folder fsync each instead of one per file.
    for (const name of names) {
      const current = join(dir, name);
      if (!existsSync(current)) continue;
      const bytes = readFileSync(current);
      if (!isJson(bytes)) continue; // a damaged file never replaces a good previous copy
      writeFileDurable(join(previousDir, `${name}.tmp`), bytes);
      renameSync(join(previousDir, `${name}.tmp`), join(previousDir, name));
    }
    fsyncDir(previousDir);
    for (const [name, bytes] of changed) writeFileDurable(join(dir, `${name}.new`), bytes);
    // The commit point: writeFileAtomic fsyncs the folder, which also makes the .new names durable.
    writeFileAtomic(join(dir, JOURNAL), JSON.stringify({ files: names }));
  } catch (err) {
    for (const name of names) rmSync(join(dir, `${name}.new`), { force: true });
    throw asTcuError(err, 'OTA_STATE', `cannot commit trusted metadata in ${dir}`);
  }
  recoverCommit(dir);
}

/** Finishes a commit whose journal exists, or discards `.new` files that no journal names. */
export function recoverCommit(dir: string): void {
  try {
    const journal = join(dir, JOURNAL);
    if (existsSync(journal)) {
      let names: string[] = [];
      try {
        const parsed = JSON.parse(readFileSync(journal, 'utf8')) as { files?: unknown };
        if (Array.isArray(parsed.files)) names = parsed.files.filter((f): f is string => (METADATA_FILES as readonly string[]).includes(String(f)));
      } catch {
        // a journal is written atomically; an unreadable one names nothing
      }
      for (const name of names) {
        const pending = join(dir, `${name}.new`);
        if (existsSync(pending)) renameSync(pending, join(dir, name));
      }
      fsyncDir(dir);
      // Not synced: if the removal is lost, the next recovery finds no .new file and only removes it again.
      rmSync(journal, { force: true });
    }
    for (const name of METADATA_FILES) rmSync(join(dir, `${name}.new`), { force: true });
  } catch (err) {
    throw asTcuError(err, 'OTA_STATE', `cannot finish a commit of trusted metadata in ${dir}`);
  }
}

function readIfExists(path: string, repo: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw asTcuError(err, 'OTA_STATE', `${repo} repository: cannot read ${path}`);
  }
}

function isJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
