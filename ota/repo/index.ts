/** Authoring TUF repositories (the fleet side: `tcu-ota`, and the tests). docs/OTA.md, "Wire format". */
export { canonicalJson } from './canonical-json.js';
export {
  Ed25519PrivateKey,
  ed25519KeyId,
  parsePublicKey,
  publicKeyJson,
  publicKeyOf,
  readPrivateKeyFile,
  readPublicKeyFile,
  toTufKey,
  tufKeyObject,
  writePrivateKeyFile,
  writePublicKeyFile,
  type PrivateKeyFormat,
  type PublicKey,
  type Signer,
} from './keys.js';
export {
  SPEC_VERSION,
  TUF_ROLES,
  buildRoot,
  buildSnapshot,
  buildTargets,
  buildTimestamp,
  metaFileFor,
  metadataBytes,
  parseMetadata,
  sha256Hex,
  signMetadata,
  targetFileFor,
  tufDate,
  withVersion,
  type AnyMetadata,
  type RoleSpec,
  type TufRole,
} from './metadata.js';
export { RepositoryBuilder, type RepositoryInit, type RootRotation, type SignOptions } from './repository.js';
