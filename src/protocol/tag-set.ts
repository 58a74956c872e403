import { S3Error } from '../errors.js'
import { childText, children, parseXml } from '../xml/parse.js'
import { validateTags } from './headers.js'

/**
 * A `<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>` document (PutObjectTagging,
 * PutBucketTagging), validated for its target. A missing TagSet, Key or Value is MalformedXML.
 */
export function parseTagging (body: Uint8Array, target: 'object' | 'bucket'): Array<[string, string]> {
  const doc = parseXml(body, 'Tagging')
  const tagSets = children(doc, 'TagSet')
  if (tagSets.length !== 1) throw new S3Error('MalformedXML')
  return validateTags(children(tagSets[0], 'Tag').map(tag => {
    const key = childText(tag, 'Key')
    const value = childText(tag, 'Value')
    if (key === undefined || value === undefined) throw new S3Error('MalformedXML')
    return [key, value] as [string, string]
  }), target)
}

/** A tag set as its stored text (bucket configuration). */
export function toStoredTags (tags: Array<[string, string]>): string {
  return JSON.stringify(tags)
}

/** The stored tag set of a bucket; undefined when it has none. */
export function fromStoredTags (text: string | undefined): Array<[string, string]> | undefined {
  if (text === undefined) return undefined
  const tags = JSON.parse(text) as Array<[string, string]>
  return Array.isArray(tags) ? tags : undefined
}

/**
 * The `<Tagging>` body of GetObjectTagging / GetBucketTagging: tags sorted by key (in UTF-8 byte
 * order), as Ceph RGW returns them and as code written against it expects.
 */
export function taggingXml (tags: Array<[string, string]>) {
  const sorted = [...tags].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  return { TagSet: { Tag: sorted.map(([Key, Value]) => ({ Key, Value })) } }
}
