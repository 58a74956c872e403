/**
 * The archive jobs survive SIGKILL: the standalone server (`serve --archive FILE`, PackBlockstore +
 * SQLite) is killed while it stores a version's CAR on the target, and while it fetches it back for
 * a restore; started again on the same data directory, each finishes exactly once (one CAR on the
 * target, one archive record counting one version, one local reference while restored) and the
 * bytes come back identical.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { CreateBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, RestoreObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { bodyOf, eventually, startStoppableGateway } from './helpers/archive-env.js'
import { REPO_ROOT, spawnChild, tempDir, type Child } from './helpers/child.js'
import { credentials, s3Client } from './helpers/s3.js'

const MIB = 1024 * 1024

async function serve (t: ExecutionContext, dataDir: string, archiveFile: string): Promise<{ child: Child, s3: S3Client }> {
  const child = spawnChild(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', dataDir, '--archive', archiveFile, '--log-level', 'warn'], {
    cwd: REPO_ROOT,
    // A killed process's claims run out after 1 s: the restarted one takes its jobs then.
    env: { S3IPFS_ACCESS_KEY: credentials.accessKeyId, S3IPFS_SECRET_KEY: credentials.secretAccessKey, S3IPFS_JOB_LEASE: '1s' },
    dropEnv: /^S3IPFS_/,
    timeouts: { start: 60_000, exit: 20_000 },
  })
  await child.waitFor('stdout', /aws --endpoint-url \S+/)
  const endpoint = child.stdout().match(/listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/m)?.[1] as string
  const s3 = s3Client(endpoint)
  t.teardown(() => { s3.destroy() })
  return { child, s3 }
}

test('SIGKILL mid-transition and mid-restore: after a restart each finishes exactly once, and the bytes come back identical', async t => {
  t.timeout(180_000)
  let carReads = 0
  const remote = await startStoppableGateway({ onRequest: (method, url) => { if (method === 'GET' && url.includes('.car')) carReads++ } })
  t.teardown(async () => { await remote.close() })
  await remote.s3.send(new CreateBucketCommand({ Bucket: 'archive' }))
  const dataDir = await tempDir(t, 's3ipfs-archive-crash-')
  const archiveFile = join(dataDir, 'archive.json')
  await writeFile(archiveFile, JSON.stringify({ type: 's3', endpoint: remote.url, bucket: 'archive', accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, partSize: 5 * MIB }))

  let server = await serve(t, dataDir, archiveFile)
  await server.s3.send(new CreateBucketCommand({ Bucket: 'cold' }))
  const body = randomBytes(96 * MIB)
  await server.s3.send(new PutObjectCommand({ Bucket: 'cold', Key: 'big', Body: body, StorageClass: 'GLACIER' }))
  const cid = (await server.s3.send(new HeadObjectCommand({ Bucket: 'cold', Key: 'big' }))).Metadata?.cid as string

  // Killed while the CAR's multipart upload to the target is under way.
  await eventually(t, 'the transition is storing the CAR', async () =>
    ((await remote.s3.send(new ListMultipartUploadsCommand({ Bucket: 'archive' }))).Uploads ?? []).length > 0, 60_000)
  server.child.proc.kill('SIGKILL')
  await server.child.exited()
  const listed = async (): Promise<string[]> => ((await remote.s3.send(new ListObjectsV2Command({ Bucket: 'archive' }))).Contents ?? []).map(o => o.Key as string)
  t.deepEqual(await listed(), [], 'no CAR was completed before the kill')

  server = await serve(t, dataDir, archiveFile)
  await eventually(t, 'the restarted server finishes the transition', async () => (await listed()).length === 1, 60_000)
  t.deepEqual(await listed(), [`${cid}.car`])

  // Killed while the restore reads the CAR back.
  const readsBefore = carReads
  t.is((await server.s3.send(new RestoreObjectCommand({ Bucket: 'cold', Key: 'big', RestoreRequest: { Days: 30 } }))).$metadata.httpStatusCode, 202)
  await eventually(t, 'the restore is reading the CAR', async () => carReads > readsBefore, 60_000)
  server.child.proc.kill('SIGKILL')
  await server.child.exited()

  server = await serve(t, dataDir, archiveFile)
  const head = await server.s3.send(new HeadObjectCommand({ Bucket: 'cold', Key: 'big' }))
  t.true(head.Restore === 'ongoing-request="true"' || head.Restore?.startsWith('ongoing-request="false"') === true)
  await eventually(t, 'the restarted server finishes the restore', async () =>
    (await server.s3.send(new HeadObjectCommand({ Bucket: 'cold', Key: 'big' }))).Restore?.startsWith('ongoing-request="false"') === true, 60_000)
  t.true((await bodyOf(server.s3, 'cold', 'big')).equals(body), 'the restored bytes are the original ones')
  server.child.proc.kill('SIGTERM')
  await server.child.exited()

  const metadata = new SqliteMetadataStore({ path: join(dataDir, 'meta.db') })
  t.teardown(async () => { await metadata.close() })
  t.like(await metadata.getArchive(cid), { versions: 1, deleting: false }, 'one record, counting the one version')
  t.is(await metadata.refCount(cid), 1, 'one local reference while restored')
  t.deepEqual(await listed(), [`${cid}.car`], 'one CAR on the target')
})
