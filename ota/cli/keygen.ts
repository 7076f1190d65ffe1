import { chmodSync, existsSync } from 'node:fs';
import { EXIT, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { Ed25519PrivateKey, tufKeyObject, writePrivateKeyFile, writePublicKeyFile } from '../repo/index.js';
import { HELP_OPTION, parseOptions, printJson, required, type CliDeps } from './common.js';

export const KEYGEN_HELP = `Usage: tcu-ota keygen --out FILE [--format pem|json]

Makes an Ed25519 key pair from the system's random source. Writes the private key to FILE (mode
0600, never over an existing file) and the public key to FILE.pub (TUF's key object as JSON, with
its key id). Prints the public key in TUF form with its key id, one JSON line:
  {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "<hex>"}, "keyid": "<hex>"}

Options:
  --out FILE          the private key file (FILE.pub receives the public key)
  --format pem|json   pem (default): PKCS#8, as openssl genpkey writes; json: securesystemslib's
                      {"keytype", "scheme", "keyid", "keyval": {"public", "private"}}
  -h, --help          this text

Exit codes: 0 written, 1 could not write, 2 usage error (or FILE or FILE.pub exists).
`;

export async function keygenCommand(argv: string[], io: CommandIO, _deps: CliDeps): Promise<number> {
  const values = parseOptions(argv, { out: { type: 'string' }, format: { type: 'string', default: 'pem' }, ...HELP_OPTION });
  if (values.help) {
    io.stdout.write(KEYGEN_HELP);
    return EXIT.OK;
  }
  const out = required(values.out, '--out');
  const format = values.format;
  if (format !== 'pem' && format !== 'json') throw new TcuError('CLI_USAGE', `--format is pem or json, not "${format}"`);
  for (const path of [out, `${out}.pub`]) if (existsSync(path)) throw new TcuError('CLI_USAGE', `${path} exists; not replacing a key file`);
  const key = Ed25519PrivateKey.generate();
  writePrivateKeyFile(out, key, format);
  writePublicKeyFile(`${out}.pub`, key.publicKey());
  chmodSync(`${out}.pub`, 0o644);
  printJson(io, { ...tufKeyObject(key.publicHex), keyid: key.keyId });
  return EXIT.OK;
}
