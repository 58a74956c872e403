import type { MultipartUpload, WriteCondition } from './metadata-store.js'

/*
 * The errors stores reject with, each with a `code` the gateway maps at one place (toS3Error):
 * stores know nothing of S3 errors.
 */

/** The error a store rejects with when `WriteOptions.sourceCid` is no longer referenced. */
export function sourceReleased (cid: string): Error {
  return Object.assign(new Error(`The content ${cid} was released before the write that references it committed`), { code: 'ERR_SOURCE_RELEASED' })
}

/** The error a store rejects with when a change needs a bucket that does not exist. */
export function noSuchBucket (name: string): Error {
  return Object.assign(new Error(`No bucket named ${JSON.stringify(name)}`), { code: 'ERR_NO_SUCH_BUCKET' })
}

/** The error `createUpload` rejects with when an upload with that id is already in progress. */
export function uploadExists (upload: MultipartUpload): Error {
  return Object.assign(new Error(`Upload ${JSON.stringify(upload.uploadId)} of ${JSON.stringify(upload.key)} is already in progress`), { code: 'ERR_UPLOAD_EXISTS' })
}

/**
 * The error a conditional write rejects with when its condition does not hold at commit time (and
 * nothing changed). `wanted` is the condition's `current`; `current` says what the key had: 'object'
 * (a current version, when none was wanted, or one whose ETag is not among those wanted) or 'none'
 * (no current version, when one was wanted).
 */
export function conditionFailed (bucket: string, key: string, wanted: WriteCondition['current'], latest: { deleteMarker: boolean, etag: string } | undefined): Error {
  const current = latest === undefined || latest.deleteMarker ? 'none' : 'object'
  const what = current === 'none' ? 'has no current version' : `has a current version with ETag ${JSON.stringify(latest?.etag)}`
  return Object.assign(new Error(`The write's condition does not hold: ${JSON.stringify(key)} in ${JSON.stringify(bucket)} ${what}`),
    { code: 'ERR_CONDITION_FAILED', wanted, current })
}

/** The error `ping` rejects with once a store is closed. */
export function storeClosed (): Error {
  return Object.assign(new Error('The metadata store is closed'), { code: 'ERR_STORE_CLOSED' })
}
