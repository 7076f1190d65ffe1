// THIRD-PARTY-LICENSES: the licence text of every package inside the bundles (from esbuild's
// metafile) and of every package shipped in node_modules. A package whose text cannot be found
// stops the packaging: a tarball must not ship code without its licence. Used by scripts/package.mjs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PackageError } from './natives.mjs';

const LICENCE_FILE = /^(licen[cs]e|copying|notice)([.-].*)?$/i;
const RULE = '='.repeat(80);

/** The package folders (absolute) whose files esbuild put into a bundle, from its metafile. */
export function bundledPackageDirs(metafile, cwd) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) dirs.add(resolve(cwd, m[1]));
  }
  return [...dirs];
}

function repositoryOf(json) {
  const r = typeof json.repository === 'string' ? json.repository : json.repository?.url;
  return r?.replace(/^git\+/, '').replace(/\.git$/, '').replace(/^git:\/\//, 'https://').replace(/^http:\/\//, 'https://');
}

/** The licence text a package ships: its LICENSE-like files, else the licence comment heading its main file. */
function ownText(dir, json) {
  const files = readdirSync(dir).filter((f) => LICENCE_FILE.test(f)).sort();
  if (files.length > 0) return { text: files.map((f) => readFileSync(join(dir, f), 'utf8').trim()).join('\n\n'), from: files.join(', ') };
  const main = join(dir, json.main ?? 'index.js');
  if (existsSync(main)) {
    const head = /^(?:["']use strict["'];?\s*)?\/\*([\s\S]*?)\*\//.exec(readFileSync(main, 'utf8'));
    if (head && /permission is hereby granted|licen[cs]e/i.test(head[1])) {
      return { text: head[1].split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n').trim(), from: `the comment heading ${json.main ?? 'index.js'}` };
    }
  }
  return undefined;
}

/**
 * One entry per package name and version: `{ name, version, license, repository, text, from, usedIn }`.
 * `groups` is `[{ label, dirs }]`; a package without a text of its own takes that of a package
 * from the same repository (the per-platform packages of cbor-extract ship none).
 */
export function collectLicences(groups) {
  const entries = new Map();
  for (const { label, dirs } of groups) {
    for (const dir of dirs) {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      const key = `${json.name}@${json.version}`;
      const entry = entries.get(key) ?? { name: json.name, version: json.version, license: json.license ?? 'UNKNOWN', repository: repositoryOf(json), usedIn: [], ...ownText(dir, json) };
      if (!entry.usedIn.includes(label)) entry.usedIn.push(label);
      entries.set(key, entry);
    }
  }
  const all = [...entries.values()];
  for (const e of all.filter((x) => x.text === undefined)) {
    const sibling = all.find((x) => x.text !== undefined && x.repository !== undefined && x.repository === e.repository);
    if (sibling === undefined) throw new PackageError(`no licence text found for ${e.name} ${e.version} (${e.license}): add it before shipping`);
    e.text = sibling.text;
    e.from = `${sibling.name}'s ${sibling.from} (the same repository, ${e.repository})`;
  }
  return all.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

/** The file's text: a summary of every package, then each licence in full. */
export function formatLicences(title, entries) {
  const lines = [title, '', 'Packages (name, version, licence; where it is used):', ''];
  for (const e of entries) lines.push(`  ${e.name} ${e.version} (${e.license}): ${e.usedIn.join(', ')}`);
  for (const e of entries) {
    lines.push('', RULE, `${e.name} ${e.version}`, `License: ${e.license}`);
    if (e.repository !== undefined) lines.push(`Source: ${e.repository}`);
    lines.push(`Text from: ${e.from}`, RULE, '', e.text);
  }
  return `${lines.join('\n')}\n`;
}
