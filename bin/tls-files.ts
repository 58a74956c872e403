import { readFileSync, statSync } from 'node:fs'
import { createSecureContext, type Server as TlsServer } from 'node:tls'
import type { GatewayLogger } from '../src/observability/logger.js'

export interface TlsFiles {
  /** The certificate chain, PEM: the server's certificate first, then any intermediates. */
  certFile: string
  /** Its private key, PEM (unencrypted). */
  keyFile: string
  /**
   * How often, at most, an arriving connection checks whether either file changed, in ms.
   * Default 5 s; 0 checks on every connection.
   */
  reloadIntervalMs?: number
}

export interface TlsPair {
  cert: Buffer
  key: Buffer
}

/**
 * Reads both files and checks that they make a usable pair (the key matches the certificate).
 * Fails with code 'ERR_TLS_FILES' and a message naming the files, never quoting them.
 */
export function readTlsPair (files: TlsFiles): TlsPair {
  const cert = readFile(files.certFile, 'certificate')
  const key = readFile(files.keyFile, 'key')
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    // OpenSSL's reason ("key values mismatch", "no start line"), which quotes nothing of the files.
    throw tlsFilesError(`The TLS certificate ${files.certFile} and key ${files.keyFile} are not a usable pair: ${(err as Error).message}`)
  }
  return { cert, key }
}

/**
 * Puts a new certificate in place without a restart: a connection arriving after either file
 * changed (looked at no more than every `reloadIntervalMs`) re-reads both, and that connection and
 * the next ones get the new pair. A pair that does not load (half-renewed, mismatched) is logged
 * and the previous one kept. Checked as connections arrive rather than on a timer, so there is
 * nothing to stop on close.
 */
export function reloadTlsOnChange (server: TlsServer, files: TlsFiles, logger: Pick<GatewayLogger, 'info' | 'warn'>): void {
  const interval = files.reloadIntervalMs ?? 5000
  let seen = fileVersions(files)
  let checked = Date.now()
  // Before tls.Server's own listener, which makes the TLSSocket with the context set at that moment.
  server.prependListener('connection', () => {
    const now = Date.now()
    if (now - checked < interval) return
    checked = now
    const current = fileVersions(files)
    if (current === seen) return
    seen = current
    try {
      server.setSecureContext(readTlsPair(files))
      logger.info({ certFile: files.certFile, keyFile: files.keyFile }, 'TLS certificate reloaded')
    } catch (err) {
      logger.warn({ certFile: files.certFile, keyFile: files.keyFile, error: (err as Error).message }, 'TLS files changed but do not load; still serving the previous certificate')
    }
  })
}

function readFile (path: string, what: string): Buffer {
  let pem: Buffer
  try {
    pem = readFileSync(path)
  } catch (err) {
    throw tlsFilesError(`Cannot read the TLS ${what} file ${path}: ${(err as { code?: string }).code ?? (err as Error).message}`)
  }
  if (!pem.includes('-----BEGIN ')) throw tlsFilesError(`The TLS ${what} file ${path} holds no PEM block`)
  return pem
}

/** Size, modification time and inode of both files: a rename over them changes the inode. */
function fileVersions (files: TlsFiles): string {
  return [files.certFile, files.keyFile].map((path) => {
    try {
      const s = statSync(path)
      return `${s.ino}:${s.size}:${s.mtimeMs}`
    } catch (err) {
      return `missing:${(err as { code?: string }).code ?? ''}`
    }
  }).join('|')
}

function tlsFilesError (message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_TLS_FILES' })
}
