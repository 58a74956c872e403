import { createWriteStream, openSync, type WriteStream } from 'node:fs'
import { once } from 'node:events'

/** One request as the audit log records it. */
export interface AuditEntry {
  /** When the answer was complete (ISO 8601). */
  time: string
  requestId: string
  /** The authenticated principal; null for anonymous requests and those refused before it was known. */
  principal: string | null
  accessKeyId?: string
  /** The S3 action (e.g. 'PutObject'); absent when the request was refused before routing. */
  operation?: string
  method: string
  bucket?: string
  key?: string
  /** The version the request read, wrote or deleted, when the answer names one. */
  versionId?: string
  /** The content the request read or wrote, when the answer names it. */
  cid?: string
  /** HTTP status of the answer. */
  status: number
  /** The S3 error code of a refused or failed request. */
  error?: string
  /** The client's address (X-Forwarded-For only from trusted proxies). */
  sourceIp?: string
  userAgent?: string
}

/**
 * Where audit entries go. Called once per request, when its answer is complete (after the last body
 * byte, so an answer cut off after its headers carries its error); may return a promise (the
 * gateway does not wait for it, and logs its failure).
 */
export type AuditSink = (entry: AuditEntry) => void | Promise<void>

export interface AuditLogFile {
  /** Appends an entry; throws once the file has failed or been closed (the gateway logs that). */
  sink: AuditSink
  /** Flushes what was written and closes the file. Repeated calls return the same promise. */
  close(): Promise<void>
}

/**
 * An append-only JSON-lines audit log: one JSON object per line, appended to `path` (created with
 * mode 0600 when missing). Writes are buffered by the stream and reach the file in order.
 *
 * The file is opened before this returns, so a path that cannot be written throws here (at
 * start-up) instead of every request's entry being lost later.
 */
export function auditLogFile (path: string): AuditLogFile {
  const fd = openSync(path, 'a', 0o600)
  const stream: WriteStream = createWriteStream(path, { fd, flags: 'a' })
  let failure: Error | undefined
  let closing: Promise<void> | undefined
  stream.on('error', (err) => { failure = err })
  return {
    sink: (entry) => {
      if (failure !== undefined) throw failure
      // A write after end() would only surface later, as an 'error' event: refuse it now.
      if (closing !== undefined) throw new Error(`The audit log ${path} is closed`)
      stream.write(JSON.stringify(entry) + '\n')
    },
    close: () => (closing ??= (async () => {
      if (stream.closed || stream.destroyed) return
      stream.end()
      await once(stream, 'close')
    })()),
  }
}
