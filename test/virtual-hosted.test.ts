import { Agent } from 'node:http'
import type { LookupFunction } from 'node:net'
import test from 'ava'
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { createGateway } from '../src/gateway.js'
import { nodeHost } from './helpers/hosts.js'
import { credentials } from './helpers/s3.js'

// Every name resolves to loopback, so `<bucket>.s3.test` reaches the test server.
const loopback: LookupFunction = (_hostname, options, callback) => {
  if (typeof options === 'object' && options.all === true) {
    (callback as unknown as (err: null, addresses: Array<{ address: string, family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }])
  } else {
    callback(null, '127.0.0.1', 4)
  }
}

test('virtual-hosted-style requests address the bucket by Host when a base domain is configured', async t => {
  const gateway = createGateway({ baseDomains: ['s3.test'] })
  const host = await nodeHost.start(gateway, '')
  t.teardown(async () => { await host.close(); await gateway.close() })
  const port = new URL(host.url).port
  const virtual = new S3Client({
    endpoint: `http://s3.test:${port}`,
    region: 'us-east-1',
    credentials,
    forcePathStyle: false,
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ lookup: loopback }) }),
  })
  t.teardown(() => { virtual.destroy() })
  await virtual.send(new CreateBucketCommand({ Bucket: 'vhost' }))
  await virtual.send(new PutObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt', Body: 'virtual' }))
  const get = await virtual.send(new GetObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt' }))
  t.is(await get.Body?.transformToString(), 'virtual')
  const list = await virtual.send(new ListObjectsV2Command({ Bucket: 'vhost' }))
  t.deepEqual(list.Contents?.map(c => c.Key), ['dir/a b.txt'])
  // the same object path-style, through the IP address (no base domain matches)
  const pathStyle = new S3Client({ endpoint: host.url, region: 'us-east-1', credentials, forcePathStyle: true })
  t.teardown(() => { pathStyle.destroy() })
  const same = await pathStyle.send(new GetObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt' }))
  t.is(await same.Body?.transformToString(), 'virtual')
})
