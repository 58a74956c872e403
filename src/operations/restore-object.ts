import { archiveJob } from '../archive/jobs.js'
import { RESTORE_CLASSES } from '../archive/classes.js'
import { invalidObjectState } from '../archive/read-through.js'
import { S3Error } from '../errors.js'
import { dueAfter } from '../lifecycle/rules.js'
import { restoreExpectation } from '../metadata/archives.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import { childText, children, parseXml, type XmlNode } from '../xml/parse.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireObject, versionIdParam } from './common.js'

const MAX_REQUEST_BYTES = 64 * 1024
const TIERS = new Set(['Standard', 'Bulk', 'Expedited'])
/** The most days a restored copy may be kept (S3's limit). */
const MAX_DAYS = 2_147_483_647

/** The `<RestoreRequest>` of an archive restore: Days and the retrieval tier (which changes nothing here). */
function parseRestoreRequest (body: Uint8Array): { days: number } {
  const doc: XmlNode = body.byteLength === 0 ? {} : parseXml(body, 'RestoreRequest', MAX_REQUEST_BYTES)
  const type = childText(doc, 'Type')
  if (type !== undefined) {
    if (type === 'SELECT') throw new S3Error('NotImplemented', 'Restoring with a SELECT query is not implemented by this gateway.')
    throw new S3Error('MalformedXML')
  }
  if (doc.OutputLocation !== undefined || doc.SelectParameters !== undefined) {
    throw new S3Error('NotImplemented', 'Restoring into an output location is not implemented by this gateway.')
  }
  const parameters = children(doc, 'GlacierJobParameters')
  if (parameters.length > 1) throw new S3Error('MalformedXML')
  const tier = childText(doc, 'Tier') ?? (parameters.length === 1 ? childText(parameters[0], 'Tier') : undefined)
  if (tier !== undefined && !TIERS.has(tier)) throw new S3Error('MalformedXML')
  const daysText = childText(doc, 'Days')
  if (daysText === undefined) throw new S3Error('InvalidArgument', 'The Days element is required to restore an archived object', { ArgumentName: 'Days' })
  if (!/^-?\d+$/.test(daysText.trim())) throw new S3Error('MalformedXML')
  const days = Number(daysText.trim())
  if (days < 1 || days > MAX_DAYS) throw new S3Error('InvalidArgument', 'The Days element must be a positive integer', { ArgumentName: 'Days', ArgumentValue: daysText })
  return { days }
}

/**
 * RestoreObject (`POST /{key}?restore`) of a GLACIER or DEEP_ARCHIVE version: 202 when a restore
 * starts (the archive job fetches, verifies and imports the content; HEAD shows
 * `x-amz-restore: ongoing-request="true"` until then); 200 when the version is restored already
 * (its expiry moves to Days from now); 409 RestoreAlreadyInProgress while one runs. Other classes
 * are 403 InvalidObjectState, as in S3 (GLACIER_IR is read without a restore).
 */
export async function restoreObject (ctx: OperationContext) {
  const versionId = versionIdParam(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_REQUEST_BYTES, document: true }), MAX_REQUEST_BYTES)
  const { days } = parseRestoreRequest(body)
  // A concurrent request may move the state between the read and the change: decide again then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const version = await requireObject(ctx, ctx.bucket, ctx.key, versionId)
    if (version.storageClass === undefined || !RESTORE_CLASSES.has(version.storageClass)) {
      throw Object.assign(invalidObjectState(version), { message: 'Restore is not allowed for the object\'s current storage class' })
    }
    const state = restoreExpectation(version)
    if (state === 'ongoing') throw new S3Error('RestoreAlreadyInProgress', 'Object restore is already in progress')
    const now = ctx.now()
    const restore = state === 'restored'
      ? { ongoing: false as const, expiry: dueAfter(now, days, ctx.lifecycleDayMs) }
      : { ongoing: true as const, days, requested: now }
    // The job runs the restore now, or (restored already) drops the copy at its new expiry.
    const job = archiveJob(version, restore.ongoing ? {} : { runAt: restore.expiry })
    const changed = await ctx.metadata.setVersionArchive(version.bucket, version.key, version.versionId,
      { cid: version.cid, restore, expect: state }, { signal: ctx.signal, jobs: [job] })
    if (changed.status === 'changed') {
      ctx.wakeJobs?.()
      return emptyResponse(state === 'restored' ? 200 : 202, version.versionId === 'null' ? {} : { 'x-amz-version-id': version.versionId })
    }
  }
  throw new S3Error('OperationAborted', 'A conflicting operation is currently in progress against this object. Please try again.')
}
