/**
 * Metadata search (`GET /-/search` and the ListObjectsV2 extension) over loopback HTTP, on memory,
 * SQLite and PostgreSQL: alice writes objects with tags, metadata, content types, sizes and
 * classes through the AWS SDK, overwrites, re-tags and deletes some, then searches them with
 * requests signed by @smithy/signature-v4 and with the SDK's own ListObjectsV2. Every search is
 * checked against what a scan of all objects finds.
 */
import test from 'ava'
import {
  CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, ListObjectsCommand, ListObjectsV2Command, PutBucketPolicyCommand,
  PutBucketVersioningCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client, paginateListObjectsV2,
} from '@aws-sdk/client-s3'
import { createGateway } from '../src/gateway.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { searchPage } from '../src/discovery/search.js'
import { emptyMetadataStore, storeKinds } from './helpers/metadata-stores.js'
import { nodeHost } from './helpers/hosts.js'
import { signedFetch } from './helpers/sign.js'

const KINDS = await storeKinds('metadata search')
const USERS = { alice: { accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }, bob: { accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' } }
type User = keyof typeof USERS

interface Found { key: string, versionId: string, size: number, etag: string, lastModified: string, storageClass: string, cid: string }
interface Answer { bucket: string, objects: Found[], nextContinuationToken?: string, error?: string }

const origins = new Map<string, string>()
const cleanup: Array<() => Promise<void>> = []

function client (origin: string, user: User): S3Client {
  return new S3Client({ endpoint: origin, region: 'us-east-1', forcePathStyle: true, credentials: USERS[user], maxAttempts: 1 })
}

/** An S3 client whose ListObjects requests carry `extra` query parameters (the search extension). */
function searchingClient (origin: string, extra: Record<string, string>): S3Client {
  const s3 = client(origin, 'alice')
  s3.middlewareStack.add((next) => async (args) => {
    const request = args.request as { query: Record<string, string> }
    Object.assign(request.query, extra)
    return await next(args)
  }, { step: 'build', name: 'searchParameters' })
  return s3
}

const tagging = (tags: Record<string, string>): string => new URLSearchParams(tags).toString()

test.before(async () => {
  for (const kind of KINDS) {
    const gateway = createGateway({
      blockstore: new MemoryBlockstore(),
      metadata: await emptyMetadataStore(kind, cleanup),
      credentials: { [USERS.alice.accessKeyId]: USERS.alice.secretAccessKey, [USERS.bob.accessKeyId]: USERS.bob.secretAccessKey },
    })
    const host = await nodeHost.start(gateway, '', { adminPath: '/-' })
    cleanup.push(async () => { await host.close(); await gateway.close() })
    origins.set(kind, host.origin)
    const alice = client(host.origin, 'alice')
    await alice.send(new CreateBucketCommand({ Bucket: 'media' }))
    await alice.send(new PutBucketVersioningCommand({ Bucket: 'media', VersioningConfiguration: { Status: 'Enabled' } }))
    const put = async (Key: string, size: number, init: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}): Promise<void> => {
      await alice.send(new PutObjectCommand({ Bucket: 'media', Key, Body: `${Key}:`.padEnd(size, '.').slice(0, size), ...init }))
    }
    await put('photos/a.png', 100, { ContentType: 'image/png', Tagging: tagging({ project: 'alpha' }), Metadata: { camera: 'nikon' } })
    await put('photos/b.jpg', 2000, { ContentType: 'image/jpeg', Tagging: tagging({ project: 'beta' }) })
    await put('photos/c.png', 50, { ContentType: 'Image/PNG; q=1', Tagging: tagging({ project: 'alpha', team: 'red' }), StorageClass: 'STANDARD_IA' })
    await put('docs/readme.txt', 300, { ContentType: 'text/plain', Tagging: tagging({ project: 'alpha' }), Metadata: { owner: 'carol' } })
    await put('docs/old.txt', 10, { Tagging: tagging({ project: 'alpha' }) })
    await put('docs/old.txt', 20, { Tagging: tagging({ project: 'retired' }) })
    await put('deleted.txt', 30, { Tagging: tagging({ project: 'alpha' }) })
    await alice.send(new DeleteObjectCommand({ Bucket: 'media', Key: 'deleted.txt' }))
    await put('retagged.txt', 40, { Tagging: tagging({ project: 'alpha' }) })
    await alice.send(new PutObjectTaggingCommand({ Bucket: 'media', Key: 'retagged.txt', Tagging: { TagSet: [{ Key: 'project', Value: 'gamma' }] } }))
    await alice.send(new CopyObjectCommand({ Bucket: 'media', Key: 'copies/a.png', CopySource: 'media/photos/a.png', MetadataDirective: 'COPY', TaggingDirective: 'COPY' }))
    for (let i = 0; i < 7; i++) await put(`many/${i}`, 5, { Tagging: tagging({ batch: 'yes' }) })
    // A bucket anyone may list.
    await alice.send(new CreateBucketCommand({ Bucket: 'open' }))
    await alice.send(new PutBucketPolicyCommand({
      Bucket: 'open',
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::open'] }] }),
    }))
    await alice.send(new PutObjectCommand({ Bucket: 'open', Key: 'visible.txt', Body: 'x', Tagging: tagging({ project: 'alpha' }) }))
  }
})

test.after.always(async () => {
  for (const step of cleanup.reverse()) await step()
})

async function search (origin: string, user: User | undefined, query: string): Promise<{ status: number, body: Answer }> {
  const url = `${origin}/-/search?${query}`
  const response = user === undefined ? await fetch(url) : await signedFetch({ method: 'GET', url, ...USERS[user] })
  return { status: response.status, body: await response.json() as Answer }
}

async function keys (origin: string, query: string): Promise<string[]> {
  const { status, body } = await search(origin, 'alice', `bucket=media&${query}`)
  if (status !== 200) throw new Error(`${query}: ${status} ${JSON.stringify(body)}`)
  return body.objects.map((o) => o.key)
}

for (const kind of KINDS) {
  test(`${kind}: each condition, and conditions combined with AND, find the current objects that meet them, in key order`, async (t) => {
    const origin = origins.get(kind) as string
    t.deepEqual(await keys(origin, 'tag.project=alpha'), ['copies/a.png', 'docs/readme.txt', 'photos/a.png', 'photos/c.png'],
      'not the overwritten, deleted or re-tagged objects')
    t.deepEqual(await keys(origin, 'tag.project=gamma'), ['retagged.txt'])
    t.deepEqual(await keys(origin, 'tag.project=retired'), ['docs/old.txt'])
    t.deepEqual(await keys(origin, 'tag-key=team'), ['photos/c.png'])
    t.deepEqual(await keys(origin, 'meta.camera=nikon'), ['copies/a.png', 'photos/a.png'])
    t.deepEqual(await keys(origin, 'meta.Owner=carol'), ['docs/readme.txt'], 'metadata names are case-insensitive, as HTTP headers')
    t.deepEqual(await keys(origin, 'content-type=image/png'), ['copies/a.png', 'photos/a.png', 'photos/c.png'], 'the media type, parameters and case aside')
    t.deepEqual(await keys(origin, 'storage-class=STANDARD_IA'), ['photos/c.png'])
    t.deepEqual(await keys(origin, 'min-size=100&max-size=300'), ['copies/a.png', 'docs/readme.txt', 'photos/a.png'])
    t.deepEqual(await keys(origin, 'min-size=1000'), ['photos/b.jpg'])
    t.deepEqual(await keys(origin, 'tag.project=alpha&content-type=image/png&prefix=photos/'), ['photos/a.png', 'photos/c.png'])
    t.deepEqual(await keys(origin, 'tag.project=alpha&storage-class=STANDARD'), ['copies/a.png', 'docs/readme.txt', 'photos/a.png'])
    t.deepEqual(await keys(origin, 'tag.project=alpha&tag.team=blue'), [], 'every tag must match')
    t.deepEqual(await keys(origin, 'tag.project=alpha&min-size=60&max-size=200'), ['copies/a.png', 'photos/a.png'])
    t.deepEqual(await keys(origin, 'tag.nothing=here'), [])

    const all = await search(origin, 'alice', 'bucket=media&tag-key=project')
    const a = all.body.objects.find((o) => o.key === 'photos/a.png') as Found
    t.like(a, { size: 100, storageClass: 'STANDARD' })
    t.regex(a.etag, /^"[0-9a-f]{32}"$/)
    t.deepEqual(await keys(origin, `cid=${a.cid}`), ['copies/a.png', 'photos/a.png'], 'a copy holds the same CID')
    const times = all.body.objects.map((o) => o.lastModified).sort()
    const middle = times[Math.floor(times.length / 2)]
    const expected = all.body.objects.filter((o) => o.lastModified > middle).map((o) => o.key)
    t.deepEqual(await keys(origin, `tag-key=project&modified-after=${middle}`), expected)
    const earlier = all.body.objects.filter((o) => o.lastModified < middle).map((o) => o.key)
    t.deepEqual(await keys(origin, `tag-key=project&modified-before=${middle}`), earlier)
  })

  test(`${kind}: pages follow the continuation token; ListObjectsV2 takes the same parameters through the SDK`, async (t) => {
    const origin = origins.get(kind) as string
    const seen: string[] = []
    let token: string | undefined
    let pages = 0
    do {
      const { body } = await search(origin, 'alice', `bucket=media&tag.batch=yes&max-results=3${token === undefined ? '' : `&continuation-token=${token}`}`)
      t.true(body.objects.length <= 3)
      seen.push(...body.objects.map((o) => o.key))
      token = body.nextContinuationToken
      pages++
    } while (token !== undefined && pages < 10)
    t.deepEqual(seen, Array.from({ length: 7 }, (_, i) => `many/${i}`))
    t.is(pages, 3)

    const s3 = searchingClient(origin, { 'tag.project': 'alpha', 'content-type': 'image/png' })
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'media' }))
    t.deepEqual(listed.Contents?.map((c) => c.Key), ['copies/a.png', 'photos/a.png', 'photos/c.png'])
    t.is(listed.KeyCount, 3)
    t.is(listed.Contents?.[2].StorageClass, 'STANDARD_IA')
    const paged: string[] = []
    for await (const page of paginateListObjectsV2({ client: searchingClient(origin, { 'tag.batch': 'yes' }), pageSize: 2 }, { Bucket: 'media', Prefix: 'many/' })) {
      paged.push(...(page.Contents ?? []).map((c) => c.Key as string))
    }
    t.deepEqual(paged, Array.from({ length: 7 }, (_, i) => `many/${i}`))
    const after = await searchingClient(origin, { 'tag.batch': 'yes' }).send(new ListObjectsV2Command({ Bucket: 'media', StartAfter: 'many/4' }))
    t.deepEqual(after.Contents?.map((c) => c.Key), ['many/5', 'many/6'])

    const withDelimiter = await s3.send(new ListObjectsV2Command({ Bucket: 'media', Delimiter: '/' })).catch((err: { name: string, $metadata: { httpStatusCode: number } }) => err)
    t.like(withDelimiter, { name: 'InvalidArgument', $metadata: { httpStatusCode: 400 } })
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: 'media' })).catch((err: { name: string, $metadata: { httpStatusCode: number } }) => err)
    t.like(v1, { name: 'NotImplemented', $metadata: { httpStatusCode: 501 } }, 'never a listing that ignores the filter')
  })

  test(`${kind}: only those who may list the bucket search it; bad parameters are InvalidArgument`, async (t) => {
    const origin = origins.get(kind) as string
    t.like(await search(origin, 'bob', 'bucket=media&tag.project=alpha'), { status: 403, body: { error: 'AccessDenied' } })
    t.like(await search(origin, undefined, 'bucket=media&tag.project=alpha'), { status: 403, body: { error: 'AccessDenied' } })
    t.like(await search(origin, 'alice', 'bucket=missing&tag.project=alpha'), { status: 404, body: { error: 'NoSuchBucket' } })
    const open = await search(origin, undefined, 'bucket=open&tag.project=alpha')
    t.is(open.status, 200)
    t.deepEqual(open.body.objects.map((o) => o.key), ['visible.txt'], 'a bucket policy granting s3:ListBucket to anyone')
    t.deepEqual((await search(origin, 'bob', 'bucket=open&tag.project=alpha')).body.objects.map((o) => o.key), ['visible.txt'])

    for (const bad of ['min-size=abc', 'max-size=-1', 'storage-class=COLD', 'cid=not-a-cid', 'modified-after=yesterday', 'max-results=0',
      'max-results=x', 'continuation-token=%25%25', 'content-type=;']) {
      const { status, body } = await search(origin, 'alice', `bucket=media&${bad}`)
      t.is(status, 400, bad)
      t.is(body.error, 'InvalidArgument', bad)
    }
    t.like(await search(origin, 'alice', 'tag.project=alpha'), { status: 400, body: { error: 'InvalidArgument' } }, 'no bucket')
    const post = await signedFetch({ method: 'POST', url: `${origin}/-/search?bucket=media`, ...USERS.alice })
    t.is(post.status, 405)
  })
}

test('a page that reads its limit of non-matching objects ends early with a position, and the next page goes on from there', async (t) => {
  const store = new MemoryMetadataStore()
  const T0 = Date.UTC(2025, 0, 1)
  await store.createBucket({ name: 'b', owner: 'o', created: new Date(T0), region: 'r', versioning: 'Unversioned' })
  // Size and time each select half of 24,000 objects, both together only three: neither range is
  // small, so the search reads the listing and checks every object.
  const n = 24_000
  for (let i = 0; i < n; i++) {
    await store.putObject({
      bucket: 'b', key: `k${String(i).padStart(5, '0')}`, versionId: 'null', deleteMarker: false, cid: `c${i}`, size: i,
      etag: 'e', lastModified: new Date(T0 + i), owner: 'o', headers: {}, metadata: {}, tags: [],
    })
  }
  const filter = { tags: [], tagKeys: [], metadata: [], size: { min: 12_000 }, modified: { to: T0 + 12_003 } }
  const found: string[] = []
  let after: string | undefined
  let pages = 0
  do {
    const page = await searchPage(store, 'b', filter, { after, limit: 1000 })
    found.push(...page.objects.map((v) => v.key))
    after = page.next
    pages++
  } while (after !== undefined && pages < 10)
  t.deepEqual(found, ['k12000', 'k12001', 'k12002'])
  t.true(pages >= 3, `${pages} pages: each reads at most 10,000 objects`)
})
