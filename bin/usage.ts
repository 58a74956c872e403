import { CID_PROFILES } from '../src/content/profiles.js'
import { LOG_LEVELS } from '../src/observability/logger.js'
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT } from './server.js'

/** The library's default (GatewayGcOptions.gracePeriodMs). */
export const DEFAULT_GRACE_PERIOD = '15m'

export const SERVE_USAGE = `Usage: s3-ipfs-gateway serve [options]

Serves the Amazon S3 REST API over node:http, keeping object bytes as IPFS (UnixFS) blocks.

Options (each overrides its environment variable):
  --port N          S3IPFS_PORT         port to listen on (default ${DEFAULT_PORT})
  --host H          S3IPFS_HOST         interface to listen on (default ${DEFAULT_HOST})
  --data-dir D      S3IPFS_DATA_DIR     blocks, meta.db and credentials.json (default ${DEFAULT_DATA_DIR})
  --region R        S3IPFS_REGION       region to sign for (default us-east-1)
  --cid-profile P   S3IPFS_CID_PROFILE  ${CID_PROFILES.join(' | ')} (default ${CID_PROFILES[0]})
  --metadata URL    S3IPFS_METADATA_URL postgres://user@host:5432/db[?schema=name]: metadata in PostgreSQL
                                        (shared by several gateway processes) instead of <data-dir>/meta.db
                                        (needs the optional package pg)
  --redis URL       S3IPFS_REDIS_URL    redis://host:6379: a block cache shared by gateway processes
                                        (needs the optional package @keyv/redis)
  --ipfs-api URL    S3IPFS_IPFS_API     http://127.0.0.1:5001: keep content on that IPFS node (Kubo RPC
                                        API; pinned while referenced) instead of <data-dir>/blocks.
                                        S3IPFS_IPFS_API_AUTH: an Authorization header value for it
                                        (needs the optional package kubo-rpc-client)
  --ipfs-listen MA  S3IPFS_IPFS_LISTEN  e.g. /ip4/0.0.0.0/tcp/4001: also run an IPFS node there, serving
                                        the stored blocks to peers over bitswap (repeatable or comma-
                                        separated; needs the optional peers of s3-ipfs-gateway/helia)
  --ipfs-key FILE   S3IPFS_IPFS_KEY     that node's private key, made on the first start, so its peer id
                                        stays the same (default <data-dir>/ipfs.key; with --metadata
                                        none, a new peer id each start: give each process its own file)
  --users FILE      S3IPFS_USERS        a JSON users file: more users with access keys and optional
                                        identity policies (re-read when it changes)
  --encrypt         S3IPFS_ENCRYPT=1    store every new object encrypted (SSE-S3)
  --audit-log FILE  S3IPFS_AUDIT_LOG    append a JSON line per request to FILE
  --tls-cert FILE   S3IPFS_TLS_CERT     serve HTTPS with this certificate chain (PEM); needs --tls-key.
  --tls-key FILE    S3IPFS_TLS_KEY      Both files are re-read when they change (renewals need no
                                        restart); SSE-C then works without --allow-insecure-sse-c
  --allow-insecure-sse-c                accept SSE-C keys over plain HTTP (TLS ends at a proxy)
  --no-cid-metadata S3IPFS_CID_METADATA=false  return each version's CID only in x-ipfs-path, not
                                        also as x-amz-meta-cid (for S3-identical user metadata)
  --ipfs-gateway M  S3IPFS_IPFS_GATEWAY authorized | open: who GET /ipfs/<cid>[/<path>] on the S3 port
                                        serves. authorized (default): CIDs of object versions the
                                        caller may read (SigV4, presigned, or public); open: every
                                        block held here, to anyone
  --no-signature-v2                     refuse AWS Signature Version 2 (\`AWS key:signature\` headers,
                                        AWSAccessKeyId/Signature URLs and forms) with 400 InvalidRequest,
                                        as Amazon S3 does; S3IPFS_SIGNATURE_V2=false. Default: accepted
  --admin-listen H:P S3IPFS_ADMIN_LISTEN also serve /-/healthy, /-/ready, /-/metrics and /-/dashboard on
                                        this address (e.g. 0.0.0.0:9091); they are on the S3 port too
  --metrics-token T S3IPFS_METRICS_TOKEN /-/metrics requires Authorization: Bearer T
  --log-level L     S3IPFS_LOG_LEVEL    ${LOG_LEVELS.join(' | ')} (default info: a JSON line per
                                        request on stderr)
  --pinning-services FILE  S3IPFS_PINNING_SERVICES  a JSON list of remote pinning services
                                        [{ "name", "endpoint", "token" }] that keep replicas of every
                                        object version (IPFS Pinning Service API)
  --replicas MIN[:MAX] S3IPFS_REPLICAS  copies to keep on those services (default 1)
  --pins-token T    S3IPFS_PINS_TOKEN   serve the Pinning Service API at /-/pins to holders of T (other
                                        gateways replicate here; \`ipfs pin remote service add\`)
  --admin-token T   S3IPFS_ADMIN_TOKEN  bearer token for admin changes (a bucket's replica policy)
  --no-workers      S3IPFS_WORKERS=0    run no background jobs in this process (others sharing the
                                        metadata run them). S3IPFS_JOB_LEASE: how long a claimed
                                        job is this process's before another may take it over
                                        (default 60s; a crashed process's jobs wait that long)
  --scrub-rate R    S3IPFS_SCRUB_RATE   scrub: re-hash every stored block against its CID at R bytes/s
                                        (e.g. 32M), repairing from replicas; a pass every
                                        S3IPFS_SCRUB_INTERVAL (default 24h). Default: off
  --archive FILE    S3IPFS_ARCHIVE      a JSON file naming the archive target of the GLACIER_IR, GLACIER
                                        and DEEP_ARCHIVE storage classes (lifecycle transitions,
                                        RestoreObject): { "type": "s3", "endpoint", "bucket", "region",
                                        "accessKeyId", "secretAccessKey" }, { "type": "storacha",
                                        "key", "proof" } or { "type": "pinning-service", "endpoint",
                                        "token" } (needs --ipfs-listen)
  S3IPFS_LIFECYCLE_DAY_SECONDS          the length of a lifecycle "day" in seconds (default 86400): rules'
                                        Days count in it, and each bucket's lifecycle pass runs once per
                                        day. Shorten it to see rules act in tests and staging
  --shutdown-delay T S3IPFS_SHUTDOWN_DELAY  on SIGTERM/SIGINT, turn unready (/-/ready answers 503) at once
                                        and keep serving for T, closing each connection after its
                                        response, so a load balancer's health checks take this process
                                        out first (ms, or with s, m; default 0)
  --shutdown-timeout T S3IPFS_SHUTDOWN_TIMEOUT  then stop accepting connections and let requests in
                                        flight finish for at most T before cutting them (default 10s)
  -h, --help                            show this help
  -v, --version                         show the version

Credentials: S3IPFS_ACCESS_KEY and S3IPFS_SECRET_KEY. When unset, a key pair is generated on the
first start, saved in <data-dir>/credentials.json (mode 0600) and reused afterwards.

Encryption: SSE-S3 objects' keys are wrapped by S3IPFS_MASTER_KEY (32 bytes, base64 or hex). When
unset, one is generated on the first start and kept in <data-dir>/master.key (mode 0600); with
--metadata (several processes share the objects) it must be set for SSE-S3 to work. Losing it loses
every SSE-S3 object.
`

export const GC_USAGE = `Usage: s3-ipfs-gateway gc [options]

Deletes the blocks in a data directory that no object version or multipart part references any
more (left by overwrites, deletes and failed uploads), and files of interrupted writes.

Safe while \`serve\` runs on the same directory: SQLite is shared in WAL mode, and a block the
server writes again while gc deletes it is kept. But gc cannot see the server's uploads in flight:
their blocks are protected only by the grace period, so it must exceed the longest upload (a single
PUT from its first byte to its end; multipart parts count once each is stored). Use 0 only while
no upload is in flight.

Options:
  --data-dir D          S3IPFS_DATA_DIR  the directory serve uses (default ${DEFAULT_DATA_DIR})
  --metadata URL        S3IPFS_METADATA_URL  the PostgreSQL metadata serve uses, if it uses one
  --ipfs-api URL        S3IPFS_IPFS_API  the IPFS node serve keeps content on, if it uses one: gc then
                        only reconciles the node's pins with the references (the node's own
                        \`ipfs repo gc\` frees the unpinned blocks)
  --grace-period T      keep unreferenced blocks written within T: milliseconds, or a number
                        with ms, s, m, h or d, e.g. 30s, 15m, 1h (default ${DEFAULT_GRACE_PERIOD})
  --dry-run             count what would be deleted; delete nothing
  --json                print the report as JSON
  --metrics-file F      write this run's metrics (s3ipfs_gc_*, pins, reconciles) to F for node_exporter's
                        textfile collector; counters go on from the previous file's values
  -h, --help            show this help

Exit status: 0 done; 1 when blocks of referenced objects are missing or corrupt (data loss; the
sweep is skipped when they may hide live blocks), or on any other failure; 2 on a usage error.
SIGINT/SIGTERM stop gc once the deletes in progress have settled.
`

export const USAGE = `Usage: s3-ipfs-gateway serve [options]
       s3-ipfs-gateway gc [options]

Commands:
  serve   serve the Amazon S3 REST API, keeping object bytes as IPFS (UnixFS) blocks
  gc      delete blocks nothing references any more (safe while serve runs)

  -h, --help      show this help; \`s3-ipfs-gateway <command> --help\` shows a command's options
  -v, --version   show the version
`

export const COMMAND_USAGE = new Map([['serve', SERVE_USAGE], ['gc', GC_USAGE]])
