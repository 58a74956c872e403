import { abortMultipartUpload } from './abort-multipart-upload.js'
import { completeMultipartUpload } from './complete-multipart-upload.js'
import type { Operation } from './context.js'
import { copyObject } from './copy-object.js'
import { createBucket } from './create-bucket.js'
import { createMultipartUpload } from './create-multipart-upload.js'
import { deleteBucket } from './delete-bucket.js'
import { deleteBucketCors } from './delete-bucket-cors.js'
import { deleteBucketEncryption } from './delete-bucket-encryption.js'
import { deleteBucketPolicy } from './delete-bucket-policy.js'
import { deleteBucketLifecycle } from './delete-bucket-lifecycle.js'
import { deleteBucketOwnershipControls } from './delete-bucket-ownership-controls.js'
import { getBucketLifecycleConfiguration } from './get-bucket-lifecycle-configuration.js'
import { putBucketLifecycleConfiguration } from './put-bucket-lifecycle-configuration.js'
import { deleteBucketTagging } from './delete-bucket-tagging.js'
import { getBucketOwnershipControls } from './get-bucket-ownership-controls.js'
import { getBucketTagging } from './get-bucket-tagging.js'
import { getObjectAttributes } from './get-object-attributes.js'
import { restoreObject } from './restore-object.js'
import { putBucketOwnershipControls } from './put-bucket-ownership-controls.js'
import { putBucketTagging } from './put-bucket-tagging.js'
import { deleteObject } from './delete-object.js'
import { deleteObjectTagging } from './delete-object-tagging.js'
import { deleteObjects } from './delete-objects.js'
import { deletePublicAccessBlock } from './delete-public-access-block.js'
import { getBucketAcl } from './get-bucket-acl.js'
import { getBucketCors } from './get-bucket-cors.js'
import { getBucketEncryption } from './get-bucket-encryption.js'
import { getBucketLocation } from './get-bucket-location.js'
import { getBucketPolicy } from './get-bucket-policy.js'
import { getBucketPolicyStatus } from './get-bucket-policy-status.js'
import { getBucketVersioning } from './get-bucket-versioning.js'
import { getObject } from './get-object.js'
import { getObjectAcl } from './get-object-acl.js'
import { getObjectTagging } from './get-object-tagging.js'
import { getPublicAccessBlock } from './get-public-access-block.js'
import { headBucket } from './head-bucket.js'
import { headObject } from './head-object.js'
import { listBuckets } from './list-buckets.js'
import { listMultipartUploads } from './list-multipart-uploads.js'
import { listObjects } from './list-objects.js'
import { listObjectVersions } from './list-object-versions.js'
import { listObjectsV2 } from './list-objects-v2.js'
import { listParts } from './list-parts.js'
import { putBucketAcl } from './put-bucket-acl.js'
import { putBucketCors } from './put-bucket-cors.js'
import { putBucketEncryption } from './put-bucket-encryption.js'
import { putBucketPolicy } from './put-bucket-policy.js'
import { putBucketVersioning } from './put-bucket-versioning.js'
import { postObject } from './post-object.js'
import { optionsObject } from './options-object.js'
import { putObject } from './put-object.js'
import { putObjectAcl } from './put-object-acl.js'
import { putObjectTagging } from './put-object-tagging.js'
import { putPublicAccessBlock } from './put-public-access-block.js'
import { uploadPart } from './upload-part.js'
import { uploadPartCopy } from './upload-part-copy.js'

/** Operation id (the AWS action name) → implementation. The router names the id. */
export const OPERATIONS: Record<string, Operation> = {
  ListBuckets: listBuckets,
  CreateBucket: createBucket,
  HeadBucket: headBucket,
  DeleteBucket: deleteBucket,
  GetBucketLocation: getBucketLocation,
  GetBucketVersioning: getBucketVersioning,
  PutBucketVersioning: putBucketVersioning,
  GetBucketPolicy: getBucketPolicy,
  PutBucketPolicy: putBucketPolicy,
  DeleteBucketPolicy: deleteBucketPolicy,
  GetBucketPolicyStatus: getBucketPolicyStatus,
  GetBucketAcl: getBucketAcl,
  PutBucketAcl: putBucketAcl,
  GetBucketCors: getBucketCors,
  PutBucketCors: putBucketCors,
  DeleteBucketCors: deleteBucketCors,
  GetPublicAccessBlock: getPublicAccessBlock,
  PutPublicAccessBlock: putPublicAccessBlock,
  DeletePublicAccessBlock: deletePublicAccessBlock,
  GetBucketEncryption: getBucketEncryption,
  PutBucketEncryption: putBucketEncryption,
  DeleteBucketEncryption: deleteBucketEncryption,
  GetBucketTagging: getBucketTagging,
  PutBucketTagging: putBucketTagging,
  DeleteBucketTagging: deleteBucketTagging,
  GetBucketOwnershipControls: getBucketOwnershipControls,
  PutBucketOwnershipControls: putBucketOwnershipControls,
  DeleteBucketOwnershipControls: deleteBucketOwnershipControls,
  GetObjectAttributes: getObjectAttributes,
  RestoreObject: restoreObject,
  GetBucketLifecycleConfiguration: getBucketLifecycleConfiguration,
  PutBucketLifecycleConfiguration: putBucketLifecycleConfiguration,
  DeleteBucketLifecycle: deleteBucketLifecycle,
  ListObjectVersions: listObjectVersions,
  ListObjects: listObjects,
  ListObjectsV2: listObjectsV2,
  PutObject: putObject,
  PostObject: postObject,
  OptionsObject: optionsObject,
  GetObject: getObject,
  HeadObject: headObject,
  DeleteObject: deleteObject,
  DeleteObjects: deleteObjects,
  CopyObject: copyObject,
  GetObjectTagging: getObjectTagging,
  PutObjectTagging: putObjectTagging,
  DeleteObjectTagging: deleteObjectTagging,
  GetObjectAcl: getObjectAcl,
  PutObjectAcl: putObjectAcl,
  CreateMultipartUpload: createMultipartUpload,
  UploadPart: uploadPart,
  UploadPartCopy: uploadPartCopy,
  CompleteMultipartUpload: completeMultipartUpload,
  AbortMultipartUpload: abortMultipartUpload,
  ListParts: listParts,
  ListMultipartUploads: listMultipartUploads,
}
