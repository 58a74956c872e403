// The code under test in the three example suites: a small "app" that keeps reports in an S3 bucket.
// It takes its S3 client as an argument, so tests hand it one pointed at the test gateway.
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'

/** All the app needs of an S3 client. */
export type S3 = Pick<S3Client, 'send'>

export interface Report {
  name: string
  size: number
  lastModified: Date
}

/** Stores a report (replacing any report of that name) and returns its ETag. */
export async function saveReport (s3: S3, bucket: string, name: string, body: string | Uint8Array): Promise<string> {
  const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: name, Body: body, ContentType: 'text/plain' }))
  return out.ETag ?? ''
}

/** Every report whose name starts with `prefix`, in name order, fetched `pageSize` at a time. */
export async function listReports (s3: S3, bucket: string, options: { prefix?: string, pageSize?: number } = {}): Promise<Report[]> {
  const reports: Report[] = []
  let ContinuationToken: string | undefined
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: options.prefix, MaxKeys: options.pageSize, ContinuationToken }))
    for (const o of page.Contents ?? []) {
      reports.push({ name: o.Key ?? '', size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) })
    }
    ContinuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (ContinuationToken !== undefined)
  return reports
}

/** Deletes every report whose name starts with `prefix`; returns how many it deleted. */
export async function deleteReports (s3: S3, bucket: string, prefix: string): Promise<number> {
  const names = (await listReports(s3, bucket, { prefix })).map(r => r.name)
  for (let i = 0; i < names.length; i += 1000) { // DeleteObjects takes at most 1000 keys
    const out = await s3.send(new DeleteObjectsCommand({
      Bucket: bucket,
      Delete: { Objects: names.slice(i, i + 1000).map(Key => ({ Key })), Quiet: true },
    }))
    const failed = out.Errors ?? []
    if (failed.length > 0) throw new Error(`could not delete ${failed.map(e => `${e.Key} (${e.Code})`).join(', ')}`)
  }
  return names.length
}
