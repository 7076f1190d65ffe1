/** The vehicle side of TUF: fetchers and trusted repositories (docs/OTA.md, "Verification and error codes"). */
export { BoundedFetcher, LocalFetcher, type ByteStream, type FetcherOptions } from './fetcher.js';
export { HttpFetcher, type HttpFetcherOptions } from './http-fetcher.js';
export { ObservedFetcher, tufErrorToTcu } from './errors.js';
export { MAX_TARGET_NAME_LENGTH, checkTargetName, targetNameProblem } from './target-name.js';
export { METADATA_FILES, commitFiles, readTrustedFiles, recoverCommit, roleVersions, type MetadataFile, type TrustedFiles } from './trusted-store.js';
export { IMAGE_MIN_THRESHOLDS, ISSUED_MARGIN_MS, TrustedRepository, type RefreshOptions, type RefreshResult, type TrustedRepositoryOptions } from './trusted-repository.js';
export { verifyTrustedSet, type MetadataFiles, type RoleVersions, type TrustedMetadata, type TrustedTarget, type VerifySetOptions } from './verify-set.js';
