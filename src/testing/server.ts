import type { AddressInfo } from 'node:net'
import { createServer } from '../../adapters/node.js'
import { createTestGateway, TEST_CREDENTIALS, TEST_REGION, type TestGateway, type TestGatewayOptions } from './test-gateway.js'

export interface TestServer {
  /** `http://127.0.0.1:<port>`: the endpoint for any S3 client, path style. */
  endpoint: string
  credentials: { accessKeyId: string, secretAccessKey: string }
  region: string
  gateway: TestGateway
  /** Stops the server (open connections are closed) and the gateway. */
  close(): Promise<void>
}

/**
 * A test gateway served over HTTP on 127.0.0.1 and a free port, for code that needs a URL: other
 * SDKs and CLIs, presigned URLs, child processes.
 */
export async function startTestServer (options: TestGatewayOptions & { gateway?: TestGateway } = {}): Promise<TestServer> {
  const gateway = options.gateway ?? createTestGateway(options)
  const server = createServer(gateway)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { ...TEST_CREDENTIALS },
    region: options.region ?? TEST_REGION,
    gateway,
    async close () {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
      await gateway.close()
    },
  }
}
