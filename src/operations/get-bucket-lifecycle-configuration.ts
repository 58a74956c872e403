import { S3Error } from '../errors.js'
import { fromStoredLifecycle, lifecycleXml } from '../lifecycle/configuration.js'
import type { OperationContext } from './context.js'
import { requireBucket, xmlResponse } from './common.js'

/** The bucket's lifecycle rules; NoSuchLifecycleConfiguration when it has none. */
export async function getBucketLifecycleConfiguration (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const config = fromStoredLifecycle(bucket.config?.lifecycle)
  if (config === undefined) throw new S3Error('NoSuchLifecycleConfiguration', undefined, { BucketName: bucket.name })
  return xmlResponse('LifecycleConfiguration', lifecycleXml(config), 200, { 'x-amz-transition-default-minimum-object-size': config.minimumObjectSize ?? 'all_storage_classes_128K' })
}
