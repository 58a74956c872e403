import { createWriteStream, type WriteStream } from 'node:fs'
import { once } from 'node:events'

/** One request as the audit log records it. */
export interface AuditEntry {
  /** When the answer was ready (ISO 8601). */
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
 * Where audit entries go. Called once per request, after its answer is ready and before its body
 * is sent; may return a promise (the gateway does not wait for it, and logs its failure).
 */
export type AuditSink = (entry: AuditEntry) => void | Promise<void>

export interface AuditLogFile {
  sink: AuditSink
  /** Flushes what was written and closes the file. */
  close(): Promise<void>
}

/**
 * An append-only JSON-lines audit log: one JSON object per line, appended to `path` (created with
 * mode 0600 when missing). Writes are buffered by the stream and reach the file in order.
 */
export function auditLogFile (path: string): AuditLogFile {
  const stream: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 })
  let failure: Error | undefined
  stream.on('error', (err) => { failure = err })
  return {
    sink: (entry) => {
      if (failure !== undefined) throw failure
      stream.write(JSON.stringify(entry) + '\n')
    },
    async close () {
      if (stream.closed || stream.destroyed) return
      stream.end()
      await once(stream, 'close')
    },
  }
}
