/**
 * The IAM action (`s3:...`) each S3 operation is authorized as, as Amazon S3 documents it in
 * "Actions, resources, and condition keys for Amazon S3". Operations that address a specific
 * version (`versionId` in the query) are authorized as the version action where S3 has one.
 */

interface ActionRow {
  action: string
  /** The action when the request names a version (`?versionId=`). */
  versioned?: string
  /** Only the bucket owner may perform it (bucket configuration), whatever a policy grants. */
  ownerOnly?: boolean
}

const ACTIONS: Record<string, ActionRow> = {
  ListBuckets: { action: 's3:ListAllMyBuckets' },
  CreateBucket: { action: 's3:CreateBucket' },
  DeleteBucket: { action: 's3:DeleteBucket' },
  HeadBucket: { action: 's3:ListBucket' },
  GetBucketLocation: { action: 's3:GetBucketLocation' },
  GetBucketVersioning: { action: 's3:GetBucketVersioning' },
  PutBucketVersioning: { action: 's3:PutBucketVersioning' },
  ListObjects: { action: 's3:ListBucket' },
  ListObjectsV2: { action: 's3:ListBucket' },
  ListObjectVersions: { action: 's3:ListBucketVersions' },
  ListMultipartUploads: { action: 's3:ListBucketMultipartUploads' },
  GetBucketPolicy: { action: 's3:GetBucketPolicy', ownerOnly: true },
  PutBucketPolicy: { action: 's3:PutBucketPolicy', ownerOnly: true },
  DeleteBucketPolicy: { action: 's3:DeleteBucketPolicy', ownerOnly: true },
  GetBucketPolicyStatus: { action: 's3:GetBucketPolicyStatus' },
  GetBucketAcl: { action: 's3:GetBucketAcl' },
  PutBucketAcl: { action: 's3:PutBucketAcl' },
  GetBucketCors: { action: 's3:GetBucketCORS' },
  PutBucketCors: { action: 's3:PutBucketCORS' },
  DeleteBucketCors: { action: 's3:PutBucketCORS' },
  GetPublicAccessBlock: { action: 's3:GetBucketPublicAccessBlock' },
  PutPublicAccessBlock: { action: 's3:PutBucketPublicAccessBlock' },
  DeletePublicAccessBlock: { action: 's3:PutBucketPublicAccessBlock' },
  GetBucketEncryption: { action: 's3:GetEncryptionConfiguration' },
  PutBucketEncryption: { action: 's3:PutEncryptionConfiguration' },
  DeleteBucketEncryption: { action: 's3:PutEncryptionConfiguration' },
  GetBucketTagging: { action: 's3:GetBucketTagging' },
  GetBucketLifecycleConfiguration: { action: 's3:GetLifecycleConfiguration' },
  PutBucketLifecycleConfiguration: { action: 's3:PutLifecycleConfiguration' },
  DeleteBucketLifecycle: { action: 's3:PutLifecycleConfiguration' },
  PutBucketTagging: { action: 's3:PutBucketTagging' },
  DeleteBucketTagging: { action: 's3:PutBucketTagging' },
  GetBucketOwnershipControls: { action: 's3:GetBucketOwnershipControls' },
  PutBucketOwnershipControls: { action: 's3:PutBucketOwnershipControls' },
  DeleteBucketOwnershipControls: { action: 's3:PutBucketOwnershipControls' },
  GetObject: { action: 's3:GetObject', versioned: 's3:GetObjectVersion' },
  HeadObject: { action: 's3:GetObject', versioned: 's3:GetObjectVersion' },
  GetObjectAttributes: { action: 's3:GetObjectAttributes', versioned: 's3:GetObjectVersionAttributes' },
  PutObject: { action: 's3:PutObject' },
  CopyObject: { action: 's3:PutObject' },
  DeleteObject: { action: 's3:DeleteObject', versioned: 's3:DeleteObjectVersion' },
  GetObjectTagging: { action: 's3:GetObjectTagging', versioned: 's3:GetObjectVersionTagging' },
  PutObjectTagging: { action: 's3:PutObjectTagging', versioned: 's3:PutObjectVersionTagging' },
  DeleteObjectTagging: { action: 's3:DeleteObjectTagging', versioned: 's3:DeleteObjectVersionTagging' },
  GetObjectAcl: { action: 's3:GetObjectAcl', versioned: 's3:GetObjectVersionAcl' },
  PutObjectAcl: { action: 's3:PutObjectAcl', versioned: 's3:PutObjectVersionAcl' },
  CreateMultipartUpload: { action: 's3:PutObject' },
  UploadPart: { action: 's3:PutObject' },
  UploadPartCopy: { action: 's3:PutObject' },
  CompleteMultipartUpload: { action: 's3:PutObject' },
  AbortMultipartUpload: { action: 's3:AbortMultipartUpload' },
  RestoreObject: { action: 's3:RestoreObject' },
  ListParts: { action: 's3:ListMultipartUploadParts' },
}

export interface RequiredAction {
  action: string
  ownerOnly: boolean
}

/**
 * The action an operation needs, or undefined for operations that are authorized inside the
 * operation (DeleteObjects: each key as s3:DeleteObject; PostObject: s3:PutObject for the form's
 * signer, known only once the form is read) or not at all (OptionsObject, a CORS preflight).
 */
export function requiredAction (operation: string, versionId: string | null): RequiredAction | undefined {
  const row = ACTIONS[operation]
  if (row === undefined) return undefined
  return { action: versionId !== null && row.versioned !== undefined ? row.versioned : row.action, ownerOnly: row.ownerOnly === true }
}

/** The resource ARN of a bucket or an object. */
export function resourceArn (bucket: string, key?: string): string {
  return key === undefined || key === '' ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`
}
