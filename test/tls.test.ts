/**
 * `serve --tls-cert --tls-key` / `startServer({ tls })`: HTTPS with a certificate from a CA the
 * test makes with the `openssl` binary, driven by the AWS SDK and the AWS CLI trusting that CA,
 * renewed on disk while serving, and SSE-C accepted over it without the insecure flag.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { Agent } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type PeerCertificate } from 'node:tls'
import { promisify } from 'node:util'
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import test, { type ExecutionContext } from 'ava'
import { startServer, type RunningServer } from '../bin/server.js'
import type { GatewayLogger } from '../src/observability/logger.js'
import { AWS_CLI, awsCliEnv } from './helpers/aws-cli.js'
import { REPO_ROOT, spawnChild, tempDir } from './helpers/child.js'
import { credentials, s3Error } from './helpers/s3.js'
import { whenServices } from './helpers/services.js'
import { makeCa, OPENSSL, type TestCa } from './helpers/test-ca.js'

const run = promisify(execFile)

function sdk (t: ExecutionContext, endpoint: string, ca?: Buffer): S3Client {
  const s3 = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
    requestHandler: ca === undefined ? undefined : new NodeHttpHandler({ httpsAgent: new Agent({ ca }) }),
  })
  t.teardown(() => { s3.destroy() })
  return s3
}

async function server (t: ExecutionContext, options: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  const running = await startServer({ port: 0, dataDir: await tempDir(t, 's3ipfs-tls-'), ...credentials, ...options })
  t.teardown(async () => { await running.close() })
  return running
}

/** The certificate a new TLS connection to `port` is shown, checked against `ca`. */
async function peerCertificate (port: number, ca: Buffer): Promise<PeerCertificate> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca }, () => {
      resolve(socket.getPeerCertificate())
      socket.end()
    })
    socket.once('error', reject)
  })
}

function recordingLogger (): GatewayLogger & { warnings: string[] } {
  const warnings: string[] = []
  return { warnings, error: () => {}, info: () => {}, warn: (_details, message) => { warnings.push(message ?? '') } }
}

const customer = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: randomBytes(32).toString('base64') }

whenServices('TLS with a test CA', existsSync(OPENSSL) ? undefined : `${OPENSSL} is not installed (apt-get install openssl)`, () => {
  let caDir: string | undefined
  let ca: TestCa
  test.before(async () => {
    caDir = await mkdtemp(join(tmpdir(), 's3ipfs-ca-'))
    ca = await makeCa(caDir)
  })
  test.after.always(async () => {
    if (caDir !== undefined) await rm(caDir, { recursive: true, force: true })
  })

  test('startServer({ tls }): the AWS SDK trusting the CA puts and gets over https, SSE-C included without allowInsecureSseC; plain HTTP still refuses SSE-C', async (t) => {
    const running = await server(t, { tls: await ca.issue('sdk') })
    t.regex(running.url, /^https:\/\/127\.0\.0\.1:\d+$/)
    const s3 = sdk(t, running.url, ca.ca)
    await s3.send(new CreateBucketCommand({ Bucket: 'secure' }))
    await s3.send(new PutObjectCommand({ Bucket: 'secure', Key: 'plain.txt', Body: 'over tls' }))
    t.is(await (await s3.send(new GetObjectCommand({ Bucket: 'secure', Key: 'plain.txt' }))).Body?.transformToString(), 'over tls')
    const put = await s3.send(new PutObjectCommand({ Bucket: 'secure', Key: 'customer.txt', Body: 'customer key', ...customer }))
    t.is(put.SSECustomerAlgorithm, 'AES256')
    const got = await s3.send(new GetObjectCommand({ Bucket: 'secure', Key: 'customer.txt', ...customer }))
    t.is(await got.Body?.transformToString(), 'customer key')
    t.is(got.SSECustomerAlgorithm, 'AES256')
    await t.throwsAsync(sdk(t, running.url).send(new GetObjectCommand({ Bucket: 'secure', Key: 'plain.txt' })), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'a client not trusting the CA refuses the certificate')

    const plain = await server(t, {})
    t.regex(plain.url, /^http:\/\//)
    const overHttp = sdk(t, plain.url)
    await overHttp.send(new CreateBucketCommand({ Bucket: 'plain' }))
    t.deepEqual(await s3Error(overHttp.send(new PutObjectCommand({ Bucket: 'plain', Key: 'customer.txt', Body: 'customer key', ...customer }))), { code: 'InvalidRequest', status: 400 })
  })

  test('a renewed certificate is shown to new connections without a restart; a pair that does not load is logged and the previous one kept', async (t) => {
    const first = await ca.issue('first')
    const logger = recordingLogger()
    const running = await server(t, { tls: { ...first, reloadIntervalMs: 0 }, gateway: { logger } })
    const before = await peerCertificate(running.port, ca.ca)
    t.is(before.subject.CN, 'first')

    const second = await ca.issue('second')
    // Half a renewal: the new certificate beside the old key.
    await writeFile(first.certFile, await readFile(second.certFile))
    const half = await peerCertificate(running.port, ca.ca)
    t.is(half.serialNumber, before.serialNumber, 'still the previous certificate')
    t.true(logger.warnings.some(w => /do not load; still serving the previous certificate/.test(w)), logger.warnings.join('\n'))

    // The rest of it, as certbot-like tools do: a rename over the key.
    await rename(second.keyFile, first.keyFile)
    const after = await peerCertificate(running.port, ca.ca)
    t.is(after.subject.CN, 'second')
    t.not(after.serialNumber, before.serialNumber)
    const s3 = sdk(t, running.url, ca.ca)
    await s3.send(new CreateBucketCommand({ Bucket: 'renewed' }))
    t.pass()
  })

  test('serve with S3IPFS_TLS_CERT / S3IPFS_TLS_KEY: the AWS CLI with --ca-bundle copies and lists over https', async (t) => {
    if (!existsSync(AWS_CLI)) {
      if (process.env.CI === 'true') throw new Error(`${AWS_CLI} is missing; .ci/run installs it`)
      t.log(`skipped: ${AWS_CLI} is not installed (apt-get install awscli)`)
      t.pass()
      return
    }
    const { certFile, keyFile } = await ca.issue('cli')
    const dataDir = await tempDir(t, 's3ipfs-tls-cli-')
    const child = spawnChild(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', dataDir], {
      cwd: REPO_ROOT,
      env: { S3IPFS_TLS_CERT: certFile, S3IPFS_TLS_KEY: keyFile, S3IPFS_ACCESS_KEY: credentials.accessKeyId, S3IPFS_SECRET_KEY: credentials.secretAccessKey },
      dropEnv: /^S3IPFS_/,
      timeouts: { start: 60_000, exit: 20_000 },
    })
    const [, endpoint] = await child.waitFor('stdout', /listening on (https:\/\/127\.0\.0\.1:\d+)$/m)
    await child.waitFor('stdout', /aws --endpoint-url https:\S+ s3 ls/)
    t.regex(child.stdout(), /tls: +\S+cli\.pem \(re-read when it or the key changes\)$/m)

    const work = await tempDir(t, 's3ipfs-tls-aws-')
    await writeFile(join(work, 'hello.txt'), 'hello over tls')
    const { AWS_CA_BUNDLE: _ignored, ...inherited } = process.env
    const aws = async (...args: string[]): Promise<string> => (await run(AWS_CLI, ['--endpoint-url', endpoint, '--ca-bundle', ca.caFile, ...args], { env: { ...inherited, ...awsCliEnv() }, timeout: 120_000 })).stdout
    await aws('s3', 'mb', 's3://tls-bucket')
    await aws('s3', 'cp', join(work, 'hello.txt'), 's3://tls-bucket/hello.txt')
    t.regex(await aws('s3', 'ls', 's3://tls-bucket'), /\s14 hello\.txt$/m)
    await aws('s3', 'cp', 's3://tls-bucket/hello.txt', join(work, 'back.txt'))
    t.is(await readFile(join(work, 'back.txt'), 'utf8'), 'hello over tls')

    child.proc.kill('SIGTERM')
    t.deepEqual(await child.exited(), { code: 0, signal: null }, child.output())
  })

  test('serve: a certificate and key that do not match exit 2 before listening, quoting neither file', async (t) => {
    const one = await ca.issue('one')
    const two = await ca.issue('two')
    const key = await readFile(two.keyFile, 'utf8')
    const child = spawnChild(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', await tempDir(t), '--tls-cert', one.certFile, '--tls-key', two.keyFile], {
      cwd: REPO_ROOT,
      dropEnv: /^S3IPFS_/,
      timeouts: { start: 60_000, exit: 20_000 },
    })
    t.deepEqual(await child.exited(60_000), { code: 2, signal: null }, child.output())
    t.regex(child.stderr(), /The TLS certificate \S+one\.pem and key \S+two\.key are not a usable pair: .*key values mismatch/)
    t.notRegex(child.stdout(), /listening on/)
    const keyBody = key.split('\n')[1]
    t.false(child.output().includes(keyBody), 'no line of the key is echoed')
  })
})
