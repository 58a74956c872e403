import { createConnection } from 'node:net'
import test from 'ava'
import pg from 'pg'

/**
 * Registers a service-backed suite, or says visibly why it cannot run: with
 * S3IPFS_REQUIRE_SERVICES=1 (set by .ci/run) a missing service is a failing test, otherwise a
 * passing one that logs the reason. `problem` is undefined when the services are reachable.
 */
export function whenServices (name: string, problem: string | undefined, register: () => void): void {
  if (problem === undefined) {
    register()
  } else if (process.env.S3IPFS_REQUIRE_SERVICES === '1') {
    test(`${name}: required services (S3IPFS_REQUIRE_SERVICES=1)`, (t) => { t.fail(problem) })
  } else {
    test(name, (t) => {
      t.log(`skipped: ${problem}`)
      t.pass()
    })
  }
}

/** Why PostgreSQL at `url` cannot be used (one `SELECT 1`), or undefined when it answers. */
export async function postgresProblem (url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (err) {
    const { host, pathname } = new URL(url)
    return `PostgreSQL not reachable at ${host}${pathname}: ${(err as Error).message || String(err)}`
  } finally {
    await client.end().catch(() => {})
  }
}

/** Drops a PostgreSQL schema a test made (and everything in it), on its own connection. */
export async function dropPostgresSchema (url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema.replaceAll('"', '""')}" CASCADE`)
  } finally {
    await client.end()
  }
}

/** Why Redis at `url` cannot be used (a PING), or undefined when it answers PONG. */
export async function redisProblem (url: string): Promise<string | undefined> {
  const pong = await new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = createConnection({ host: hostname, port: Number(port === '' ? 6379 : port) })
    socket.setTimeout(1000)
    socket.once('connect', () => { socket.write('PING\r\n') })
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
    socket.once('error', () => { resolve(false) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
  })
  return pong ? undefined : `Redis not reachable at ${url}`
}
