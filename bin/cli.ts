#!/usr/bin/env node
// Block writes, fsyncs and reads run on libuv's thread pool, 4 threads unless told otherwise; a
// server that fsyncs every acknowledged object wants more of them in flight. The size is read when
// the pool starts, so it is set here, before any module that could start it is loaded.
process.env.UV_THREADPOOL_SIZE ??= '16'
await import('./cli-main.js')
