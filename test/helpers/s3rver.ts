import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface RunningS3rver {
  endpoint: string
  /** Where s3rver keeps its buckets. */
  dir: string
  accessKeyId: string
  secretAccessKey: string
  close(): Promise<void>
}

/**
 * s3rver (a plain file-backed S3 server from npm) as a child process on a free loopback port.
 * OpenSSL's legacy provider lets its continuation tokens work on Node 20 (see IPFS-NOTES).
 */
export async function startS3rver (): Promise<RunningS3rver> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-s3rver-'))
  const proc: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', join(REPO_ROOT, 'node_modules/s3rver/bin/s3rver.js'),
    '-d', dir, '-a', '127.0.0.1', '-p', '0', '--silent'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout?.setEncoding('utf8')
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => { out += s })
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout?.on('data', (s: string) => {
      out += s
      const m = out.match(/listening on [\d.]+:(\d+)/)
      if (m !== null) resolve(Number(m[1]))
    })
    proc.once('exit', () => { reject(new Error(`s3rver exited:\n${out}`)) })
  })
  return {
    endpoint: `http://127.0.0.1:${port}`,
    dir,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    close: async () => {
      proc.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    },
  }
}
