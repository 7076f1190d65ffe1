import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Key } from '@tufjs/models';
import { writeFileAtomic } from '../../core/atomic-file.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { canonicalJson } from './canonical-json.js';

/**
 * Ed25519 keys in TUF's standard key format (docs/OTA.md, "Wire format", "Keys"):
 *
 * - public key object: `{"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "<64 hex>"}}`
 * - key id: lowercase hex SHA-256 of the canonical JSON of that object (what python-tuf and
 *   securesystemslib compute, so keys made here and keys made there have the same ids)
 * - private key files: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, what `openssl genpkey -algorithm
 *   ed25519` writes) or the JSON form securesystemslib uses: the public object plus `keyid` and
 *   `keyval.private` (the 32-byte seed, hex). Both are read; `writePrivateKeyFile` writes either.
 * - public key files: the public key object as JSON (a `keyid` member is allowed and checked), or
 *   an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
 */

export interface PublicKey {
  keyId: string;
  /** The raw 32-byte Ed25519 public key, lowercase hex. */
  publicHex: string;
}

/** Anything that signs for a role: tuf-js verifies `sig` over the canonical JSON of `signed`. */
export interface Signer {
  readonly keyId: string;
  /** Ed25519 signature of `data`, lowercase hex. */
  sign(data: Uint8Array): string;
}

export type PrivateKeyFormat = 'pem' | 'json';

const HEX64 = /^[0-9a-f]{64}$/;
/** PKCS#8 header for an Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SPKI header for an Ed25519 public key; the 32-byte key follows. */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The TUF public key object (what root.json lists under `keys`). */
export function tufKeyObject(publicHex: string): { keytype: 'ed25519'; scheme: 'ed25519'; keyval: { public: string } } {
  return { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: publicHex } };
}

/** sha256(canonical JSON of the public key object), hex. */
export function ed25519KeyId(publicHex: string): string {
  return createHash('sha256').update(canonicalJson(tufKeyObject(publicHex)), 'utf8').digest('hex');
}

export function publicKeyOf(publicHex: string): PublicKey {
  const hex = publicHex.toLowerCase();
  if (!HEX64.test(hex)) throw new TcuError('OTA_METADATA', 'an Ed25519 public key is 64 hex digits');
  return { keyId: ed25519KeyId(hex), publicHex: hex };
}

/** The @tufjs/models Key for root metadata. */
export function toTufKey(key: PublicKey): Key {
  return new Key({ keyID: key.keyId, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: key.publicHex } });
}

export class Ed25519PrivateKey implements Signer, PublicKey {
  readonly keyId: string;
  readonly publicHex: string;
  private readonly key: KeyObject;
  private readonly seed: Buffer;

  private constructor(seed: Buffer) {
    this.seed = Buffer.from(seed);
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(this.key).export({ format: 'der', type: 'spki' });
    this.publicHex = spki.subarray(spki.length - 32).toString('hex');
    this.keyId = ed25519KeyId(this.publicHex);
  }

  /** A new key from the system's CSPRNG. */
  static generate(): Ed25519PrivateKey {
    const { privateKey } = generateKeyPairSync('ed25519');
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    return new Ed25519PrivateKey(der.subarray(der.length - 32));
  }

  /** A key from its 32-byte seed (deterministic keys for tests and fixtures). */
  static fromSeed(seed: Uint8Array): Ed25519PrivateKey {
    if (seed.length !== 32) throw new TcuError('OTA_METADATA', 'an Ed25519 seed is 32 bytes');
    return new Ed25519PrivateKey(Buffer.from(seed));
  }

  /** Parses a private key file's text: PKCS#8 PEM or the JSON form (see the file comment). */
  static parse(text: string): Ed25519PrivateKey {
    const trimmed = text.trim();
    if (trimmed.startsWith('-----BEGIN')) {
      let der: Buffer;
      try {
        der = createPrivateKey(trimmed).export({ format: 'der', type: 'pkcs8' });
      } catch (err) {
        throw asTcuError(err, 'OTA_METADATA', 'not a PEM private key');
      }
      if (der.length !== 48 || !der.subarray(0, 16).equals(PKCS8_ED25519_PREFIX)) {
        throw new TcuError('OTA_METADATA', 'the PEM private key is not an Ed25519 key');
      }
      return new Ed25519PrivateKey(der.subarray(16));
    }
    const obj = parseJsonObject(trimmed, 'private key');
    const keyval = obj['keyval'] as Record<string, unknown> | undefined;
    if (obj['keytype'] !== 'ed25519' || obj['scheme'] !== 'ed25519' || typeof keyval !== 'object' || keyval === null) {
      throw new TcuError('OTA_METADATA', 'the JSON private key is not {keytype: "ed25519", scheme: "ed25519", keyval: {...}}');
    }
    const priv = keyval['private'];
    if (typeof priv !== 'string' || !HEX64.test(priv.toLowerCase())) {
      throw new TcuError('OTA_METADATA', 'keyval.private must be the 32-byte seed as 64 hex digits');
    }
    const key = new Ed25519PrivateKey(Buffer.from(priv, 'hex'));
    if (typeof keyval['public'] === 'string' && keyval['public'].toLowerCase() !== key.publicHex) {
      throw new TcuError('OTA_METADATA', 'keyval.public does not belong to keyval.private');
    }
    if (typeof obj['keyid'] === 'string' && obj['keyid'] !== key.keyId) {
      throw new TcuError('OTA_METADATA', `keyid ${obj['keyid']} is not the TUF key id of this key (${key.keyId})`);
    }
    return key;
  }

  publicKey(): PublicKey {
    return { keyId: this.keyId, publicHex: this.publicHex };
  }

  sign(data: Uint8Array): string {
    return cryptoSign(null, data, this.key).toString('hex');
  }

  toPem(): string {
    return this.key.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  toJson(): string {
    const obj = { ...tufKeyObject(this.publicHex), keyid: this.keyId };
    return `${JSON.stringify({ ...obj, keyval: { public: this.publicHex, private: this.seed.toString('hex') } }, null, 2)}\n`;
  }
}

/** Parses a public key file's text: the TUF key object as JSON, an SPKI PEM, or a private key file. */
export function parsePublicKey(text: string): PublicKey {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN PUBLIC KEY-----')) {
    let der: Buffer;
    try {
      der = createPublicKey(trimmed).export({ format: 'der', type: 'spki' });
    } catch (err) {
      throw asTcuError(err, 'OTA_METADATA', 'not a PEM public key');
    }
    if (der.length !== 44 || !der.subarray(0, 12).equals(SPKI_ED25519_PREFIX)) {
      throw new TcuError('OTA_METADATA', 'the PEM public key is not an Ed25519 key');
    }
    return publicKeyOf(der.subarray(12).toString('hex'));
  }
  if (trimmed.startsWith('-----BEGIN')) return Ed25519PrivateKey.parse(trimmed).publicKey();
  const obj = parseJsonObject(trimmed, 'public key');
  const keyval = obj['keyval'] as Record<string, unknown> | undefined;
  if (typeof keyval === 'object' && keyval !== null && typeof keyval['private'] === 'string') {
    return Ed25519PrivateKey.parse(trimmed).publicKey();
  }
  if (obj['keytype'] !== 'ed25519' || obj['scheme'] !== 'ed25519' || typeof keyval?.['public'] !== 'string') {
    throw new TcuError('OTA_METADATA', 'the public key is not {keytype: "ed25519", scheme: "ed25519", keyval: {public: hex}}');
  }
  const key = publicKeyOf(keyval['public']);
  if (typeof obj['keyid'] === 'string' && obj['keyid'] !== key.keyId) {
    throw new TcuError('OTA_METADATA', `keyid ${obj['keyid']} is not the TUF key id of this key (${key.keyId})`);
  }
  return key;
}

/** The public key file's text (the TUF key object plus its keyid). */
export function publicKeyJson(key: PublicKey): string {
  return `${JSON.stringify({ ...tufKeyObject(key.publicHex), keyid: key.keyId }, null, 2)}\n`;
}

export function readPrivateKeyFile(path: string): Ed25519PrivateKey {
  return Ed25519PrivateKey.parse(readText(path));
}

export function readPublicKeyFile(path: string): PublicKey {
  return parsePublicKey(readText(path));
}

/** Writes a private key (mode 0600, atomically). Refuses to replace an existing file unless `overwrite`. */
export function writePrivateKeyFile(path: string, key: Ed25519PrivateKey, format: PrivateKeyFormat = 'pem', overwrite = false): void {
  writeKeyFile(path, format === 'pem' ? key.toPem() : key.toJson(), overwrite);
}

export function writePublicKeyFile(path: string, key: PublicKey, overwrite = false): void {
  writeKeyFile(path, publicKeyJson(key), overwrite);
}

function writeKeyFile(path: string, text: string, overwrite: boolean): void {
  if (!overwrite && existsSync(path)) throw new TcuError('FILE_WRITE', `${path} exists; not replacing a key file`, { details: { path } });
  try {
    writeFileAtomic(path, text);
  } catch (err) {
    throw asTcuError(err, 'FILE_WRITE', `cannot write ${path}`);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw asTcuError(err, 'FILE_READ', `cannot read ${path}`);
  }
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw asTcuError(err, 'OTA_METADATA', `the ${what} is neither PEM nor JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TcuError('OTA_METADATA', `the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}
