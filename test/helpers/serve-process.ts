import { S3Client } from '@aws-sdk/client-s3'
import type { ExecutionContext } from 'ava'
import { REPO_ROOT, spawnChild } from './child.js'
import type { Child } from './child.js'

/** The CLI entry point, relative to the repository root (the child's working directory). */
export const CLI = 'bin/cli.ts'
export const START_TIMEOUT = 60_000
export const EXIT_TIMEOUT = 20_000

/** Runs `node --import tsx CLI ...args` without any inherited S3IPFS_* setting; killed in teardown whatever happens. */
export function cli (t: ExecutionContext, args: string[], env: Record<string, string> = {}): Child {
  return spawnChild(t, process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: REPO_ROOT,
    env,
    dropEnv: /^S3IPFS_/,
    timeouts: { start: START_TIMEOUT, exit: EXIT_TIMEOUT },
  })
}

export interface Served {
  child: Child
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
}

/**
 * `serve --port 0 --data-dir dataDir ...args`, once its banner is out: the endpoint and key pair
 * it printed (checked to be consistent: the port it got, the same keys in the sample command).
 */
export async function serve (t: ExecutionContext, dataDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<Served> {
  const child = cli(t, ['serve', '--port', '0', '--data-dir', dataDir, ...args], env)
  await child.waitFor('stdout', /aws --endpoint-url \S+/)
  const out = child.stdout()
  const endpoint = out.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/m)
  const accessKeyId = out.match(/access key:\s+(\S+)/)
  const secretAccessKey = out.match(/secret key:\s+(\S+)/)
  if (endpoint === null || accessKeyId === null || secretAccessKey === null) throw new Error(`unexpected banner:\n${out}`)
  t.not(endpoint[2], '0', 'prints the port it got, not the 0 it was asked for')
  t.regex(out, new RegExp(`aws --endpoint-url ${escape(endpoint[1])}( |$)`, 'm'))
  t.regex(out, new RegExp(`AWS_ACCESS_KEY_ID=${escape(accessKeyId[1])} AWS_SECRET_ACCESS_KEY=${escape(secretAccessKey[1])} `))
  return { child, endpoint: endpoint[1], accessKeyId: accessKeyId[1], secretAccessKey: secretAccessKey[1] }
}

/** SIGTERM, then a clean exit (0) is expected. */
export async function stop (t: ExecutionContext, child: Child): Promise<void> {
  child.proc.kill('SIGTERM')
  const exit = await child.exited()
  t.deepEqual(exit, { code: 0, signal: null }, `${child.stdout()}\n${child.stderr()}`)
}

/** An SDK client without retries (a failure shows at once), destroyed in teardown. */
export function client (t: ExecutionContext, endpoint: string, credentials: { accessKeyId: string, secretAccessKey: string }): S3Client {
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 })
  t.teardown(() => { s3.destroy() })
  return s3
}

export function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
