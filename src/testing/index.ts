// s3-ipfs-gateway/testing: the real gateway, in memory, for unit tests of code that uses S3.
export { createTestGateway, TEST_CREDENTIALS, TEST_REGION } from './test-gateway.js'
export type { TestGateway, TestGatewayOptions, Fault, StoredObjectInfo } from './test-gateway.js'
export { inProcessHandler } from './in-process.js'
export type { InProcessHandler } from './in-process.js'
export { startTestServer } from './server.js'
export type { TestServer } from './server.js'
