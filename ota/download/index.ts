/** The resumable target downloader: the one entry the rest of the update client imports. */
export { SOURCE_LENGTH, downloadTarget, type DownloadOptions, type DownloadResult, type NetworkDecision, type NetworkGate } from './downloader.js';
export { fetchBytes, type FetchBytesOptions } from './fetch-bytes.js';
export { hashFileInto, sha256File } from './hash-file.js';
export { backoffDelay, progressEvent, RateWindow, TokenBucket, type BackoffOptions, type DownloadProgress } from './rate.js';
export { parseContentRange, type ContentRange } from './range.js';
export { sourceKind, type SourceKind } from './source.js';
