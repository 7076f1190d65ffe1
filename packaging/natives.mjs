// The native addons a bundle leaves external, and the packages they load at run time, taken from a
// node_modules tree (this machine's, or one built on or for the board: --natives-from) and laid out
// in the package's node_modules with only what runs: the files each package's entry points load,
// the addons built for the target (checked by their ELF header), package.json and licence files.
// Used by scripts/package.mjs.
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { basename, dirname, join, posix } from 'node:path';

/** What each target is called by npm (package.json `cpu`), by node-gyp-build (prebuilds/) and in ELF. */
export const TARGETS = {
  'linux-x64': { cpu: 'x64', prebuilds: 'linux-x64', machine: 62, bits: 64, elf: 'x86-64' },
  'linux-arm64': { cpu: 'arm64', prebuilds: 'linux-arm64', machine: 183, bits: 64, elf: 'AArch64' },
  'linux-armv7': { cpu: 'arm', prebuilds: 'linux-arm', machine: 40, bits: 32, elf: 'ARM (32-bit)' },
};

/**
 * Dependencies the addons declare that only build or fetch the addon when npm installs it:
 * node-gyp compiles, nan and node-addon-api are C++ headers, prebuild-install downloads a binary.
 * Nothing requires them at run time, so they are not shipped.
 */
export const BUILD_ONLY = new Set(['node-gyp', 'nan', 'node-addon-api', 'prebuild-install']);

const LICENCE_FILE = /^(licen[cs]e|copying|notice)([.-].*)?$/i;

export class PackageError extends Error {}

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** The node_modules folder of DIR (DIR itself, or DIR/node_modules). */
export function nodeModulesOf(dir) {
  if (basename(dir) === 'node_modules' && existsSync(dir)) return dir;
  if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules');
  throw new PackageError(`${dir} is not a node_modules folder and has none`);
}

/** Node's lookup of package `name` from `startDir`, never above the tree's own folder. */
function lookup(tree, startDir, name) {
  const top = dirname(tree);
  for (let dir = startDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (basename(dir) !== 'node_modules' && existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === top || dir === dirname(dir)) return undefined;
  }
}

/**
 * The packages the bundles import but do not contain, each with the folder it is looked up from:
 * an import in the project's own code from the tree's top, one inside a bundled package from that
 * package's place in the tree (cbor-x's cbor-extract lives in cbor-x/node_modules).
 */
export function externalImports(metafiles) {
  const found = new Map();
  for (const meta of metafiles) {
    for (const [importer, input] of Object.entries(meta.inputs)) {
      for (const imp of input.imports) {
        // Node's own modules, and esbuild's `<runtime>`, are not packages.
        if (!imp.external || isBuiltin(imp.path) || !/^(@[\w.-]+\/)?[\w.-]+(\/|$)/.test(imp.path)) continue;
        const name = imp.path.split('/').slice(0, imp.path.startsWith('@') ? 2 : 1).join('/');
        const at = importer.lastIndexOf('node_modules/');
        const from = at < 0 ? '' : dirname(importer.slice(at + 'node_modules/'.length));
        if (!found.has(name)) found.set(name, { name, from, importer });
      }
    }
  }
  return [...found.values()];
}

/** Node's lookup in the packaged layout: from the dependent's folder up to node_modules/NAME. */
function lookupPlaced(placed, fromDest, name) {
  const parts = fromDest.split('/node_modules/');
  for (let i = parts.length; i >= 0; i--) {
    const dest = [...parts.slice(0, i), name].join('/node_modules/');
    if (placed.has(dest)) return placed.get(dest);
  }
  return undefined;
}

function matchesTarget(pkg, target) {
  // npm's rule: a list of allowed values, or of excluded ones written `!value`.
  const fits = (list, value) => {
    if (!Array.isArray(list) || list.length === 0) return true;
    if (list.includes(`!${value}`)) return false;
    const allowed = list.filter((x) => !x.startsWith('!'));
    return allowed.length === 0 || allowed.includes(value);
  };
  return fits(pkg.os, 'linux') && fits(pkg.cpu, TARGETS[target].cpu);
}

/**
 * Resolves the closure of the external imports in `tree` and places it flat where it can be
 * (node_modules/NAME), nested under the package that needs it where two versions meet. Checks that
 * every dependency resolves, in the new layout, to the version it resolved to in `tree`.
 * `devTree` tells an import that is optional (installed nowhere) from one `tree` lacks.
 */
export function planNatives({ tree, devTree, imports, target }) {
  const placed = new Map(); // destination (relative to node_modules) -> package
  const edges = [];
  const skipped = [];
  const queue = [];
  const place = (pkg, parentDest) => {
    for (const dest of parentDest === undefined ? [pkg.name] : [pkg.name, `${parentDest}/node_modules/${pkg.name}`]) {
      const there = placed.get(dest);
      if (there !== undefined && there.key === pkg.key) return dest;
      if (there === undefined) {
        placed.set(dest, { ...pkg, dest });
        queue.push(dest);
        return dest;
      }
    }
    throw new PackageError(`cannot place ${pkg.key}: ${parentDest}/node_modules/${pkg.name} is taken`);
  };
  const packageAt = (dir) => {
    const json = readJson(join(dir, 'package.json'));
    return { name: json.name, version: json.version, key: `${json.name}@${json.version}`, source: dir, json };
  };
  for (const imp of imports) {
    const dir = lookup(tree, join(tree, imp.from), imp.name);
    if (dir === undefined) {
      if (tree !== devTree && lookup(devTree, join(devTree, imp.from), imp.name) !== undefined) {
        throw new PackageError(`${tree} has no ${imp.name} (the bundle imports it from ${imp.importer}); install the project's dependencies there`);
      }
      skipped.push(`${imp.name} (an optional import of ${imp.importer}, installed nowhere)`);
      continue;
    }
    place(packageAt(dir), undefined);
  }
  while (queue.length > 0) {
    const parent = placed.get(queue.shift());
    const deps = [...Object.keys(parent.json.dependencies ?? {}).map((n) => [n, false]), ...Object.keys(parent.json.optionalDependencies ?? {}).map((n) => [n, true])];
    for (const [name, optional] of deps) {
      if (BUILD_ONLY.has(name)) continue;
      const dir = lookup(tree, parent.source, name);
      if (dir === undefined) {
        if (optional) continue;
        throw new PackageError(`${parent.key} needs ${name}, which is not installed in ${tree}`);
      }
      const dep = packageAt(dir);
      if (!matchesTarget(dep.json, target)) continue;
      edges.push({ from: parent.dest, name, key: dep.key });
      place(dep, parent.dest);
    }
  }
  for (const e of edges) {
    const got = lookupPlaced(placed, e.from, e.name);
    if (got?.key !== e.key) throw new PackageError(`in the packaged layout ${e.from} would load ${got?.key ?? 'nothing'}, not ${e.key}`);
  }
  return { packages: [...placed.values()].sort((a, b) => a.dest.localeCompare(b.dest)), skipped };
}

function elfOf(path) {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(20);
  try {
    readSync(fd, head, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  if (head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return { bits: head[4] === 2 ? 64 : 32, machine: head.readUInt16LE(18) };
}

/** Addons: build/Release/*.node (not node-gyp's obj.target/), prebuilds/<target>/, or loose in a per-platform package. */
function* addonFiles(pkgDir, targetInfo, rel = '') {
  for (const entry of readdirSync(join(pkgDir, rel), { withFileTypes: true })) {
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name.startsWith('obj') || entry.name === '.deps') continue;
      if (rel === 'prebuilds' && entry.name !== targetInfo.prebuilds) continue;
      if (rel === 'build' && entry.name !== 'Release') continue;
      yield* addonFiles(pkgDir, targetInfo, path);
    } else if (entry.isFile() && entry.name.endsWith('.node') && !entry.name.startsWith('test')) yield path;
  }
}

const RELATIVE_LOAD = /\brequire\s*\(\s*['"](\.{1,2}\/[^'"]*)['"]\s*\)|\bimport\s*\(\s*['"](\.{1,2}\/[^'"]*)['"]\s*\)|\bfrom\s+['"](\.{1,2}\/[^'"]*)['"]|^\s*import\s+['"](\.{1,2}\/[^'"]*)['"]/gm;
const EXTENSIONS = ['', '.js', '.json', '.node', '.cjs', '.mjs', '/index.js', '/index.json'];

/** A module path inside a package, resolved as require() would; undefined when nothing is there. */
function resolveIn(pkgDir, fromDir, spec) {
  const base = posix.normalize(posix.join(fromDir, spec)).replace(/\/$/, '');
  if (base.startsWith('..')) return undefined;
  return EXTENSIONS.map((ext) => base + ext).find((rel) => existsSync(join(pkgDir, rel)) && statSync(join(pkgDir, rel)).isFile());
}

/** Every string in package.json's `exports`, whatever its conditions. */
const exportTargets = (value) => (typeof value === 'string' ? [value] : value !== null && typeof value === 'object' ? Object.values(value).flatMap(exportTargets) : []);

/**
 * The files of a package that run: its entry points (`main`, every `exports` target) and what they
 * load through relative require()/import, the addons, the package.json files on the way to each
 * (they say whether a .js file is CommonJS or an ES module), and its licence files.
 */
function runtimeFiles(pkgDir, json, targetInfo) {
  const files = new Set();
  const queue = [json.main ?? 'index.js', ...exportTargets(json.exports)].map((e) => resolveIn(pkgDir, '', e)).filter((e) => e !== undefined);
  while (queue.length > 0) {
    const rel = queue.shift();
    if (files.has(rel)) continue;
    files.add(rel);
    if (!/\.(c|m)?js$/.test(rel)) continue;
    for (const m of readFileSync(join(pkgDir, rel), 'utf8').matchAll(RELATIVE_LOAD)) {
      const found = resolveIn(pkgDir, posix.dirname(rel), m[1] ?? m[2] ?? m[3] ?? m[4]);
      if (found !== undefined) queue.push(found);
    }
  }
  for (const rel of addonFiles(pkgDir, targetInfo)) files.add(rel);
  for (const rel of [...files]) {
    for (let dir = posix.dirname(rel); dir !== '.'; dir = posix.dirname(dir)) if (existsSync(join(pkgDir, dir, 'package.json'))) files.add(`${dir}/package.json`);
  }
  files.add('package.json');
  for (const f of readdirSync(pkgDir)) if (LICENCE_FILE.test(f)) files.add(f);
  return [...files].sort();
}

/**
 * Copies the planned packages into `nodeModules`. Refuses an addon built for another machine, and a
 * package with a binding.gyp that ends up with no addon for the target at all.
 */
export function copyNatives(plan, nodeModules, target) {
  const info = TARGETS[target];
  const addons = [];
  for (const pkg of plan.packages) {
    const dest = join(nodeModules, ...pkg.dest.split('/'));
    for (const rel of runtimeFiles(pkg.source, pkg.json, info)) {
      const to = join(dest, ...rel.split('/'));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(pkg.source, rel), to);
      chmodSync(to, 0o644);
      if (!rel.endsWith('.node')) continue;
      const elf = elfOf(to);
      if (elf === undefined || elf.machine !== info.machine || elf.bits !== info.bits) {
        throw new PackageError(`${join(pkg.source, rel)} is not a ${info.elf} addon (ELF machine ${elf?.machine ?? 'none'}, ${elf?.bits ?? '?'}-bit): it was built for another target than ${target}`);
      }
      addons.push({ pkg, path: `${pkg.dest}/${rel}` });
    }
  }
  for (const pkg of plan.packages) {
    if (!existsSync(join(pkg.source, 'binding.gyp'))) continue;
    const own = (a) => a.pkg === pkg || (a.pkg.json.cpu !== undefined && Object.keys(pkg.json.optionalDependencies ?? {}).includes(a.pkg.name));
    if (!addons.some(own)) throw new PackageError(`${pkg.key} has no addon built for ${target} in ${pkg.source} (build it on or for the board: docs/BOARDS.md)`);
  }
  return addons;
}
