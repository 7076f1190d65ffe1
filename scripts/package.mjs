// Makes the tarball a board installs: `tcu-agent-<version>-<target>.tar.gz`, a file-system tree to
// unpack at / (docs/BOARDS.md). Run by `npm run package`; `--help` for the options.
//
// The bundles are built here with esbuild's metafile and scripts/build.mjs's options, so the
// licence list describes exactly the code shipped. The slots folder is made by the agent's own
// dir-slots backend (DirSlotsBackend.provision), and the default configuration is checked with the
// agent's own loader, both bundled from the sources for this run.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BUNDLE_OPTIONS } from './build.mjs';
import { bundledPackageDirs, collectLicences, formatLicences } from '../packaging/licences.mjs';
import { PackageError, TARGETS, copyNatives, externalImports, nodeModulesOf, planNatives } from '../packaging/natives.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HELP = `Usage: node scripts/package.mjs [--target TARGET] [--out DIR] [--natives-from DIR] [--hardware-id ID ...]
                              [--release-counter N] [--rxswin ID ...]

Makes DIR/tcu-agent-<version>-<target>.tar.gz: the agent's bundle in dir-slots slot a, its native
addons, the emulator (for bring-up), the default configuration, the systemd unit, the user and
file-ownership definitions, and the licences. Unpack it at / on the board (docs/BOARDS.md).

Options:
  --target TARGET      linux-x64, linux-arm64 or linux-armv7 (default: this machine's)
  --out DIR            where the tarball goes (default: dist/package)
  --natives-from DIR   a node_modules folder built on or for the target (npm ci on the board);
                       required when the target is not this machine's
  --hardware-id ID     the hardware ids recorded in the slot's manifest (default: tcu-generic,
                       the configuration's default vehicle.hardwareId); repeatable
  --release-counter N  the release counter of this build, recorded in the slot's manifest: the
                       agent refuses any update with a lower one, even validly signed (docs/OTA.md).
                       Give it for every release build; without it downgrades are refused only
                       from the first committed update on
  --rxswin ID          the RXSWIN (UN R156 software identification) of this build; repeatable
  -h, --help           this text

Exit codes: 0 done, 1 failed, 2 usage error or a target this machine cannot package for.
`;

const PROGRAMS = [
  { entry: 'agent/cli/tcu-agent.ts', file: 'tcu-agent.mjs', label: 'tcu-agent.mjs (the agent)' },
  { entry: 'hw-emulator/cli/tcu-emulator.ts', file: 'tcu-emulator.mjs', label: 'tools/tcu-emulator.mjs (the emulator)' },
  { entry: 'agent/cli/tcu-boot-guard.ts', file: 'tcu-boot-guard.mjs', label: 'tcu-boot-guard.mjs (the dir-slots boot counter)' },
];
/** Directories the package owns; the shared ones above them (/usr, /lib, ...) get no entry of their own. */
const OWNED_DIRS = ['opt/tcu-agent', 'etc/tcu-agent', 'usr/share/doc/tcu-agent'];

class UsageError extends PackageError {}

function hostTarget() {
  if (process.platform !== 'linux') return undefined;
  return { x64: 'linux-x64', arm64: 'linux-arm64', arm: 'linux-armv7' }[process.arch];
}

function options(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        target: { type: 'string' },
        out: { type: 'string' },
        'natives-from': { type: 'string' },
        'hardware-id': { type: 'string', multiple: true },
        'release-counter': { type: 'string' },
        rxswin: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${err.message} (--help for the options)`);
  }
  const v = parsed.values;
  if (v.help === true) return { help: true };
  const host = hostTarget();
  const target = v.target ?? host;
  if (target === undefined) throw new UsageError(`this machine (${process.platform}-${process.arch}) is no target; name one with --target and give --natives-from`);
  if (!(target in TARGETS)) throw new UsageError(`unknown target "${target}": one of ${Object.keys(TARGETS).join(', ')}`);
  if (target !== host && v['natives-from'] === undefined) {
    throw new UsageError(
      `refusing to package for ${target} on a ${host ?? process.arch} machine without --natives-from: the native addons (better-sqlite3, socketcan, ...) here are built for ${host}. Build them on or for the board (npm ci there, or see docs/BOARDS.md, "Building for arm64 and armv7") and pass that node_modules folder with --natives-from DIR`,
    );
  }
  const counter = v['release-counter'];
  if (counter !== undefined && !/^\d{1,15}$/.test(counter)) throw new UsageError(`--release-counter must be a non-negative integer, not "${counter}"`);
  return {
    help: false,
    releaseCounter: counter === undefined ? undefined : Number(counter),
    rxswin: v.rxswin ?? [],
    target,
    out: resolve(v.out ?? join(ROOT, 'dist', 'package')), nativesFrom: v['natives-from'] === undefined ? undefined : resolve(v['natives-from']), hardwareIds: v['hardware-id'] ?? ['tcu-generic'] };
}

async function bundle(entry) {
  const result = await build({
    ...BUNDLE_OPTIONS,
    entryPoints: [join(ROOT, entry)],
    outfile: join(ROOT, 'dist', 'bundle.mjs'),
    absWorkingDir: ROOT,
    metafile: true,
    write: false,
  });
  return { code: result.outputFiles[0].contents, metafile: result.metafile };
}

/** The project's own dir-slots backend and configuration loader, bundled from the sources for this run. */
async function projectCode(scratch) {
  const contents = ["export { DirSlotsBackend } from './ota/install/dir-slots.ts';", "export { loadConfig } from './config/index.ts';", "export { systemClock } from './core/clock.ts';"].join('\n');
  const result = await build({ stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: 'package-helpers.ts' }, ...BUNDLE_OPTIONS, external: [], write: false });
  const file = join(scratch, 'package-helpers.mjs');
  writeFileSync(file, result.outputFiles[0].contents);
  return import(pathToFileURL(file).href);
}

function put(stage, rel, content, mode = 0o644) {
  const path = join(stage, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
}

/** Every file and symlink under `stage`, plus the directories the package owns, sorted. */
function entries(stage, rel = '') {
  const out = [];
  for (const name of readdirSync(join(stage, rel)).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(stage, path));
    if (st.isDirectory()) {
      if (OWNED_DIRS.some((d) => path === d || path.startsWith(`${d}/`))) out.push(path);
      out.push(...entries(stage, path));
    } else out.push(path);
  }
  return out;
}

async function main() {
  const opts = options(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  const started = performance.now();
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
  const devTree = join(ROOT, 'node_modules');
  const tree = opts.nativesFrom === undefined ? devTree : nodeModulesOf(opts.nativesFrom);
  const scratch = mkdtempSync(join(tmpdir(), 'tcu-package-'));
  try {
    const stage = join(scratch, 'root');
    const app = join(stage, 'opt', 'tcu-agent');
    const { DirSlotsBackend, loadConfig, systemClock } = await projectCode(scratch);

    // The default configuration must be one the agent accepts (it throws CONFIG_INVALID otherwise).
    loadConfig(join(ROOT, 'packaging', 'config.json'));

    const [agent, emulator, guard] = await Promise.all(PROGRAMS.map((p) => bundle(p.entry)));
    const image = join(scratch, 'tcu-agent.mjs');
    writeFileSync(image, agent.code);
    const target = {
      name: `tcu-agent/${version}/tcu-agent.mjs`,
      length: agent.code.length,
      hashes: { sha256: createHash('sha256').update(agent.code).digest('hex') },
      custom: { hardwareIds: opts.hardwareIds, version, rxswin: opts.rxswin, ...(opts.releaseCounter === undefined ? {} : { releaseCounter: opts.releaseCounter }) },
    };
    await DirSlotsBackend.provision({ dir: join(app, 'slots'), clock: systemClock() }, image, target);
    chmodSync(join(app, 'slots', 'a', 'tcu-agent.mjs'), 0o755);
    put(app, 'tools/tcu-emulator.mjs', emulator.code, 0o755);
    // Beside the slots, not in one: an update never replaces the guard that can abandon it.
    put(app, 'tcu-boot-guard.mjs', guard.code, 0o755);

    const plan = planNatives({ tree, devTree, imports: externalImports([agent.metafile, emulator.metafile, guard.metafile]), target: opts.target });
    const addons = copyNatives(plan, join(app, 'node_modules'), opts.target);

    const licences = collectLicences([
      { label: PROGRAMS[0].label, dirs: bundledPackageDirs(agent.metafile, ROOT) },
      { label: PROGRAMS[1].label, dirs: bundledPackageDirs(emulator.metafile, ROOT) },
      { label: PROGRAMS[2].label, dirs: bundledPackageDirs(guard.metafile, ROOT) },
      { label: 'node_modules (native addons and what they load)', dirs: plan.packages.map((p) => p.source) },
    ]);
    const doc = 'usr/share/doc/tcu-agent';
    put(stage, `${doc}/THIRD-PARTY-LICENSES`, formatLicences(`tcu-agent ${version} (${opts.target}) contains the following third-party software.`, licences));
    copyFileSync(join(ROOT, 'LICENSE'), join(stage, doc, 'LICENSE'));
    copyFileSync(join(ROOT, 'docs', 'BOARDS.md'), join(stage, doc, 'BOARDS.md'));
    const info = {
      name: 'tcu-agent',
      version,
      target: opts.target,
      natives: opts.nativesFrom === undefined ? { builtWith: `node ${process.version}`, abi: process.versions.modules } : { from: opts.nativesFrom },
      addons: addons.map((a) => a.path),
      builtAt: new Date().toISOString(),
    };
    put(app, 'build-info.json', `${JSON.stringify(info, null, 2)}\n`);
    put(stage, 'etc/tcu-agent/config.json', readFileSync(join(ROOT, 'packaging', 'config.json')), 0o640);
    put(stage, 'usr/bin/tcu-agent', readFileSync(join(ROOT, 'packaging', 'bin', 'tcu-agent')), 0o755);
    put(stage, 'lib/systemd/system/tcu-agent.service', readFileSync(join(ROOT, 'packaging', 'systemd', 'tcu-agent.service')));
    put(stage, 'usr/lib/sysusers.d/tcu-agent.conf', readFileSync(join(ROOT, 'packaging', 'sysusers.d', 'tcu-agent.conf')));
    put(stage, 'usr/lib/tmpfiles.d/tcu-agent.conf', readFileSync(join(ROOT, 'packaging', 'tmpfiles.d', 'tcu-agent.conf')));

    for (const dir of OWNED_DIRS) chmodDirs(join(stage, dir));
    const list = entries(stage);
    writeFileSync(join(scratch, 'files'), `${list.join('\n')}\n`);
    mkdirSync(opts.out, { recursive: true });
    const tarball = join(opts.out, `tcu-agent-${version}-${opts.target}.tar.gz`);
    // Shared directories (usr/, lib/, ...) have no entries: on a merged-/usr system /lib is a
    // symlink, which tar would otherwise replace by a directory.
    execFileSync('tar', ['--create', '--gzip', '--file', tarball, '--directory', stage, '--owner=0', '--group=0', '--numeric-owner', '--no-recursion', '--files-from', join(scratch, 'files')]);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(`${relative(process.cwd(), tarball) || tarball}: ${list.length} entries, ${(statSync(tarball).size / 1048576).toFixed(1)} MB, ${licences.length} third-party packages, ${plan.packages.length} in node_modules, in ${seconds} s\n`);
    for (const s of plan.skipped) process.stdout.write(`  left out: ${s}\n`);
    if (opts.releaseCounter === undefined) process.stdout.write('  no --release-counter: a validly signed older release is refused only after the first committed update\n');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function chmodDirs(dir) {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) chmodDirs(join(dir, e.name));
}

main().catch((err) => {
  process.stderr.write(`package: ${err instanceof PackageError || err?.code === 'CONFIG_INVALID' ? err.message : err?.stack ?? err}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
