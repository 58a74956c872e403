/**
 * deploy/Dockerfile: no Docker daemon runs here and no registry but npm's is reachable, so the image
 * is never built (docs/DEPLOYMENT.md, "Container image"). Instead the Dockerfile is parsed (dockerfile-ast)
 * and held to what the deployment needs: two stages on node:20-slim, a non-root final user, a health
 * check on /-/healthy, the built CLI running `serve`. Then the runtime stage is repeated outside a
 * container: tsup's bundle (JavaScript only: the image's `npm run build` also writes type
 * declarations, two minutes here, which `serve` never loads), the production-only dependencies
 * package-lock.json gives (`npm ci --omit=dev` installs exactly those; it takes over two minutes here
 * because it compiles better-sqlite3, so they are copied from this install), the image's ENV, WORKDIR,
 * ENTRYPOINT and CMD, as uid 1000 when the test runs as root; the HEALTHCHECK command itself is run
 * against it, and an S3 client stores and reads an object.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { chmod, chown, cp, mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { DockerfileParser } from 'dockerfile-ast'
import type { Instruction } from 'dockerfile-ast'
import { build } from 'tsup'
import { DEFAULT_PORT } from '../bin/server.js'
import { tempDir } from './helpers/child.js'
import { ROOT, cliVariables, repoText, run } from './helpers/deploy.js'

const DOCKERFILE = 'deploy/Dockerfile'
/** The node images' unprivileged `node` user. */
const NODE_UID = 1000

interface Stage { name?: string, image: string, instructions: Instruction[] }

async function stages (): Promise<Stage[]> {
  const dockerfile = DockerfileParser.parse(await repoText(DOCKERFILE))
  const result: Stage[] = []
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword()
    if (keyword === 'FROM') {
      const [image, as, name] = instruction.getArguments().map((a) => a.getValue())
      result.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] })
    } else {
      if (result.length === 0) throw new Error(`${keyword} before FROM`)
      result.at(-1)?.instructions.push(instruction)
    }
  }
  return result
}

function all (stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.getKeyword() === keyword)
}

/** The last instruction of that kind in a stage, as Docker uses it. */
function last (stage: Stage, keyword: string): Instruction | undefined {
  return all(stage, keyword).at(-1)
}

/** An exec-form (JSON array) argument list, e.g. ENTRYPOINT ["node", "x"]; a shell form fails. */
function execForm (text: string): string[] {
  const parsed = JSON.parse(text) as unknown
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) throw new Error(`not an exec form: ${text}`)
  return parsed
}

function env (stage: Stage): Record<string, string> {
  return Object.fromEntries(all(stage, 'ENV').flatMap((i) => (i as unknown as { getProperties: () => Array<{ getName: () => string, getValue: () => string }> }).getProperties().map((p) => [p.getName(), p.getValue()])))
}

test('the Dockerfile: two stages on node:20-slim, production dependencies only, non-root, health check, serve', async (t) => {
  const all_ = await stages()
  t.true(all_.length >= 2, 'multi-stage')
  for (const s of all_) t.is(s.image, 'node:20-slim')
  const [buildStage] = all_
  const runtime = all_.at(-1) as Stage
  const runs = all(buildStage, 'RUN').map((i) => i.getArgumentsContent() ?? '').join('\n')
  for (const tool of ['python3', 'make', 'g++']) t.regex(runs, new RegExp(`install .*\\b${tool.replace('+', '\\+')}`), `installs ${tool} to compile better-sqlite3`)
  t.regex(runs, /\bnpm ci\b/)
  t.regex(runs, /\bnpm run build\b/)
  t.regex(runs, /\bnpm prune --omit=dev\b|\bnpm ci --omit=dev\b/)
  const pkg = JSON.parse(await repoText('package.json')) as { scripts: Record<string, string>, bin: Record<string, string> }
  t.is(pkg.scripts.build, 'tsup')

  // The runtime stage takes only the build stage's output, as root-owned files, and runs as node.
  const copies = all(runtime, 'COPY') as unknown as Array<{ getFromFlag: () => { getValue: () => string | null } | null }>
  t.true(copies.length >= 3)
  for (const copy of copies) t.is(copy.getFromFlag()?.getValue(), buildStage.name, 'runtime files come from the build stage')
  const user = last(runtime, 'USER')?.getArgumentsContent()?.split(':')[0]
  t.truthy(user, 'USER is set')
  t.false(['root', '0'].includes(user ?? 'root'), `final USER ${user} is not root`)

  const vars = env(runtime)
  t.is(vars.S3IPFS_HOST, '0.0.0.0', 'listens beyond the container\'s loopback')
  t.is(vars.S3IPFS_DATA_DIR, '/data')
  t.is(Number(vars.S3IPFS_PORT ?? DEFAULT_PORT), DEFAULT_PORT)
  const known = await cliVariables()
  for (const name of Object.keys(vars).filter((n) => n.startsWith('S3IPFS_'))) t.true(known.has(name), `${name} is read by bin/`)
  t.deepEqual(execForm(last(runtime, 'VOLUME')?.getArgumentsContent() ?? ''), ['/data'])
  t.regex(all(runtime, 'RUN').map((i) => i.getArgumentsContent()).join('\n'), /chown node:node \/data/, '/data is the node user\'s')
  t.is(Number(last(runtime, 'EXPOSE')?.getArgumentsContent()), DEFAULT_PORT)

  const healthcheck = last(runtime, 'HEALTHCHECK')?.getArgumentsContent() ?? ''
  t.regex(healthcheck, /^CMD \[/, 'exec form')
  t.regex(healthcheck, /\/-\/healthy/)

  const command = [...execForm(last(runtime, 'ENTRYPOINT')?.getArgumentsContent() ?? ''), ...execForm(last(runtime, 'CMD')?.getArgumentsContent() ?? '')]
  t.deepEqual(command, ['node', `/app/${pkg.bin['s3-ipfs-gateway'].replace(/^\.\//, '')}`, 'serve'], 'the package\'s bin, serve')
  t.is(last(runtime, 'WORKDIR')?.getArgumentsContent(), '/app')
})

test('the build stage copies files that exist and that .dockerignore lets through', async (t) => {
  const [buildStage] = await stages()
  const ignored = (await repoText('.dockerignore')).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  t.true(ignored.includes('.env') && ignored.includes('node_modules'), 'no local secrets or modules in the context')
  const sources = all(buildStage, 'COPY').flatMap((i) => (i.getArgumentsContent() ?? '').split(/\s+/).slice(0, -1))
  t.true(sources.includes('src') && sources.includes('bin') && sources.includes('package-lock.json'))
  for (const source of sources) {
    await t.notThrowsAsync(stat(join(ROOT, source)), `${source} exists`)
    t.false(ignored.some((p) => p.replace(/^\*\*\//, '') === source.split('/')[0]), `${source} is not in .dockerignore`)
  }
})

/** Runs the image's command outside a container; killed in the test's teardown whatever happens. */
function start (t: ExecutionContext, command: string[], options: { cwd: string, env: Record<string, string>, uid?: number }): { proc: ChildProcess, output: () => string, url: Promise<string> } {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('S3IPFS_')))
  const proc = spawn(command[0], command.slice(1), { cwd: options.cwd, env: { ...base, ...options.env }, uid: options.uid, gid: options.uid, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  let text = ''
  const url = new Promise<string>((resolve, reject) => {
    const onData = (s: Buffer): void => {
      text += s.toString()
      const m = /listening on (http:\/\/\S+:\d+)/.exec(text)
      if (m !== null) resolve(m[1])
    }
    proc.stdout?.on('data', onData)
    proc.stderr?.on('data', onData)
    proc.once('exit', () => { reject(new Error(`exited before listening:\n${text}`)) })
  })
  return { proc, output: () => text, url }
}

test('the runtime stage, outside a container: production dependencies, the ENV, ENTRYPOINT, CMD and HEALTHCHECK', async (t) => {
  const runtime = (await stages()).at(-1) as Stage
  const dir = await tempDir(t, 's3ipfs-image-')
  await chmod(dir, 0o755)
  const app = join(dir, 'app')

  // RUN npm run build (JavaScript only) in the build stage; COPY --from=build /app/dist ./dist
  await build({ dts: false, sourcemap: false, silent: true, outDir: join(app, 'dist') })
  // RUN npm prune --omit=dev; COPY --from=build /app/node_modules ./node_modules
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean, optional?: boolean }> }
  const production = Object.entries(lock.packages).filter(([path, p]) => path.startsWith('node_modules/') && p.dev !== true)
  t.true(production.length > 50, `${production.length} production packages`)
  const dev = Object.entries(lock.packages).filter(([path, p]) => path.startsWith('node_modules/') && p.dev === true).map(([path]) => path)
  t.true(dev.includes('node_modules/typescript') && dev.includes('node_modules/tsup'), 'build tools stay out')
  for (const [path, p] of production) {
    const from = join(ROOT, path)
    if (!await stat(from).then(() => true, () => false)) {
      t.true(p.optional === true, `${path} is installed (it is not optional)`)
      continue
    }
    // Nested packages are entries of their own in the lockfile: copied when they are production ones.
    await cp(from, join(app, path), { recursive: true, filter: (src) => !src.slice(from.length).includes('/node_modules') })
  }
  for (const file of ['package.json', 'package-lock.json']) await cp(join(ROOT, file), join(app, file))

  // WORKDIR /app; RUN mkdir -p /data && chown node:node /data; USER node
  const asRoot = process.getuid?.() === 0
  const data = join(dir, 'data')
  await mkdir(data)
  if (asRoot) await chown(data, NODE_UID, NODE_UID)
  else t.log(`not root: runs as uid ${process.getuid?.()}, not as uid ${NODE_UID}`)
  const uid = asRoot ? NODE_UID : undefined
  const inApp = (arg: string): string => arg.startsWith('/app/') ? join(app, arg.slice('/app/'.length)) : arg
  const entrypoint = execForm(last(runtime, 'ENTRYPOINT')?.getArgumentsContent() ?? '').map(inApp)
  const cmd = execForm(last(runtime, 'CMD')?.getArgumentsContent() ?? '')
  entrypoint[0] = entrypoint[0] === 'node' ? process.execPath : entrypoint[0]

  const help = await run(entrypoint[0], [...entrypoint.slice(1), 'serve', '--help'])
  t.is(help.code, 0, help.output)
  t.regex(help.output, /S3IPFS_HOST/)

  // ENV, with the port and the data directory of this machine's test.
  const imageEnv = { ...env(runtime), S3IPFS_PORT: '0', S3IPFS_DATA_DIR: data }
  const keys = { S3IPFS_ACCESS_KEY: 'AKIAIMAGETEST', S3IPFS_SECRET_KEY: 'image-test-secret-key' }
  const server = start(t, [...entrypoint, ...cmd], { cwd: app, env: { ...imageEnv, ...keys }, uid })
  const url = await server.url
  const port = new URL(url).port

  // HEALTHCHECK CMD [...], with S3IPFS_PORT as the container would have it.
  const check = execForm((last(runtime, 'HEALTHCHECK')?.getArgumentsContent() ?? '').replace(/^CMD\s+/, ''))
  check[0] = check[0] === 'node' ? process.execPath : check[0]
  const healthy = await run(check[0], check.slice(1), { ...process.env, S3IPFS_PORT: port })
  t.is(healthy.code, 0, `health check while serving: ${healthy.output}\n${server.output()}`)

  const s3 = new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: keys.S3IPFS_ACCESS_KEY, secretAccessKey: keys.S3IPFS_SECRET_KEY } })
  t.teardown(() => { s3.destroy() })
  await s3.send(new CreateBucketCommand({ Bucket: 'image' }))
  await s3.send(new PutObjectCommand({ Bucket: 'image', Key: 'k', Body: 'from the production build' }))
  const got = await s3.send(new GetObjectCommand({ Bucket: 'image', Key: 'k' }))
  t.is(await got.Body?.transformToString(), 'from the production build')
  if (asRoot) t.is((await stat(join(data, 'meta.db'))).uid, NODE_UID, 'the data directory is written by the node user')

  const exited = new Promise<{ code: number | null, signal: string | null }>((resolve) => { server.proc.once('exit', (code, signal) => { resolve({ code, signal }) }) })
  server.proc.kill('SIGTERM')
  t.deepEqual(await exited, { code: 0, signal: null }, server.output())
  const stopped = await run(check[0], check.slice(1), { ...process.env, S3IPFS_PORT: port })
  t.is(stopped.code, 1, 'the health check fails once nothing answers')
})
