import { S3Client } from '@aws-sdk/client-s3'
import { createTestGateway, inProcessHandler, startTestServer, TEST_CREDENTIALS } from '../src/testing/index.js'
import { s3ApiSuite } from './compliance/s3-api.suite.js'

// The testing kit's in-process handler: the SDK talks to the gateway with no socket. (The server
// only serves the suite's raw fetch() calls: presigned URLs and anonymous requests.)
s3ApiSuite('in-process', async () => {
  const gateway = createTestGateway()
  const server = await startTestServer({ gateway })
  return {
    endpoint: server.endpoint,
    gateway,
    metadata: gateway.metadata,
    client: () => new S3Client({
      requestHandler: inProcessHandler(gateway),
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: TEST_CREDENTIALS,
      maxAttempts: 1,
    }),
    close: async () => { await server.close() },
  }
})
