import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chmod, chown, copyFile, readFile, writeFile } from 'node:fs/promises'
import { connect } from 'node:tls'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { ExecutionContext } from 'ava'
import { freePort, spawnService, tempDir } from './monitoring.js'
import type { Service } from './monitoring.js'
import type { Issued } from './test-ca.js'

// Throwaway servers that speak TLS with a test CA's certificate (test/helpers/test-ca.ts), for the
// tests of the gateway's own TLS connections: redis-server with its TLS port, HAProxy terminating TLS
// in front of a plain-HTTP API, and a PostgreSQL cluster of its own with ssl=on. Each listens on a
// port the kernel handed out and is stopped, its directory removed, in the test's teardown.

const run = promisify(execFile)

/** Resolves once a TLS handshake with 127.0.0.1:`port` trusting `ca` succeeds; rejects after `ms` or when `service` exits. */
async function tlsReady (service: Service, port: number, ca: Buffer, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (service.proc.exitCode !== null || service.proc.signalCode !== null) throw new Error(`exited before its TLS port answered:\n${service.output()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca }, () => { socket.end(); resolve(true) })
      socket.setTimeout(2000, () => { socket.destroy(); resolve(false) })
      socket.once('error', () => { resolve(false) })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`no TLS handshake on port ${port} within ${ms / 1000} s:\n${service.output()}`)
    await sleep(100)
  }
}

// --- Redis ----------------------------------------------------------------------------------------

export interface TlsRedis {
  port: number
  /** `rediss://127.0.0.1:<port>` */
  url: string
  /** redis-cli over TLS trusting the CA, e.g. `cli('dbsize')`: its stdout, trimmed. */
  cli: (...args: string[]) => Promise<string>
}

/** A redis-server that listens only on a TLS port (no plain port, no persistence, clients need no certificate). */
export async function tlsRedis (t: ExecutionContext, bins: { server: string, cli: string }, cert: Issued, caFile: string): Promise<TlsRedis> {
  const port = await freePort()
  const service = spawnService(t, bins.server, [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', cert.certFile, '--tls-key-file', cert.keyFile, '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no',
    '--save', '', '--appendonly', 'no',
  ])
  await tlsReady(service, port, await readFile(caFile))
  return {
    port,
    url: `rediss://127.0.0.1:${port}`,
    cli: async (...args) => (await run(bins.cli, ['--tls', '--cacert', caFile, '-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })).stdout.trim(),
  }
}

// --- HAProxy --------------------------------------------------------------------------------------

/** HAProxy in HTTP mode on 127.0.0.1:<port>, terminating TLS with `cert` and forwarding to `target` (plain HTTP). */
export async function tlsTerminator (t: ExecutionContext, haproxy: string, cert: Issued, ca: Buffer, target: URL): Promise<{ port: number, url: string }> {
  const dir = await tempDir(t, 's3ipfs-haproxy-')
  const pem = join(dir, 'server.pem')
  await writeFile(pem, Buffer.concat([await readFile(cert.certFile), await readFile(cert.keyFile)]), { mode: 0o600 })
  const port = await freePort()
  const config = join(dir, 'haproxy.cfg')
  await writeFile(config, [
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    'frontend tls',
    `  bind 127.0.0.1:${port} ssl crt ${pem}`,
    '  default_backend api',
    'backend api',
    `  server api ${target.hostname}:${target.port}`,
    '',
  ].join('\n'))
  const service = spawnService(t, haproxy, ['-db', '-f', config])
  await tlsReady(service, port, ca)
  return { port, url: `https://127.0.0.1:${port}` }
}

// --- PostgreSQL -----------------------------------------------------------------------------------

/** The newest `/usr/lib/postgresql/<version>/bin` holding initdb and postgres (Debian's postgresql-NN), or undefined. */
export function postgresBinDir (): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter(v => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  return versions.map(v => join(root, v, 'bin')).find(bin => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres')))
}

/** The uid and gid of the `postgres` OS user (from /etc/passwd), or undefined. */
async function postgresUser (): Promise<{ uid: number, gid: number } | undefined> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find(l => l.startsWith('postgres:'))
  if (line === undefined) return undefined
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

export interface TlsPostgres {
  port: number
  /** Its Unix socket directory, for the test's own connections (no TLS there). */
  socketDir: string
}

/**
 * A PostgreSQL cluster of the test's own (initdb, trust authentication, user postgres) with ssl=on
 * and `cert` as its certificate, listening on 127.0.0.1 and 127.0.0.2. PostgreSQL refuses to run as
 * root: run as root (as CI does), the cluster's directory, certificate and key belong to the
 * `postgres` OS user and initdb and postgres run as that user.
 */
export async function tlsPostgres (t: ExecutionContext, binDir: string, cert: Issued): Promise<TlsPostgres> {
  const dir = await tempDir(t, 's3ipfs-pg-tls-')
  const asRoot = process.getuid?.() === 0
  const owner = asRoot ? await postgresUser() : undefined
  if (asRoot && owner === undefined) throw new Error('running as root, and there is no postgres OS user to run PostgreSQL as')
  const certFile = join(dir, 'server.pem')
  const keyFile = join(dir, 'server.key')
  await copyFile(cert.certFile, certFile)
  await copyFile(cert.keyFile, keyFile)
  await chmod(keyFile, 0o600)
  if (owner !== undefined) for (const path of [dir, certFile, keyFile]) await chown(path, owner.uid, owner.gid)

  const data = join(dir, 'data')
  await run(join(binDir, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions'], { ...owner, cwd: dir, timeout: 60_000 })
  const port = await freePort()
  const service = spawnService(t, join(binDir, 'postgres'), [
    '-D', data, '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1,127.0.0.2', '-c', `unix_socket_directories=${dir}`,
    '-c', 'ssl=on', '-c', `ssl_cert_file=${certFile}`, '-c', `ssl_key_file=${keyFile}`,
    '-c', 'fsync=off',
  ], { cwd: dir, ...owner })
  await service.waitFor(/database system is ready to accept connections/, 60_000)
  return { port, socketDir: dir }
}
