import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { signedFetch } from './sign.js'

/** The two users of the snapshot tests: alice owns the buckets, bob is another signed user. */
export const USERS = { alice: { accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }, bob: { accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' } }
/** A user, or undefined for an anonymous (unsigned) request. */
export type User = keyof typeof USERS | undefined
export const CREDENTIALS = { [USERS.alice.accessKeyId]: USERS.alice.secretAccessKey, [USERS.bob.accessKeyId]: USERS.bob.secretAccessKey }

export function client (origin: string, user: keyof typeof USERS): S3Client {
  return new S3Client({ endpoint: origin, region: 'us-east-1', forcePathStyle: true, credentials: USERS[user], maxAttempts: 1 })
}

/** An admin request (`/-/...`) as `user`, signed as S3 requests are; its JSON body, if any. */
export async function call (origin: string, user: User, method: string, path: string): Promise<{ status: number, body: any }> {
  const url = `${origin}${path}`
  const response = user === undefined ? await fetch(url, { method }) : await signedFetch({ method, url, ...USERS[user] })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}

/** Creates `bucket` and puts each object in it through the AWS SDK. */
export async function fill (s3: S3Client, bucket: string, objects: Record<string, Buffer>): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  for (const [key, body] of Object.entries(objects)) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
}
