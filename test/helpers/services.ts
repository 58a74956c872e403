import test from 'ava'

/**
 * Registers a service-backed suite, or says visibly why it cannot run: with
 * S3IPFS_REQUIRE_SERVICES=1 (set by .ci/run) a missing service is a failing test, otherwise a
 * passing one that logs the reason. `problem` is undefined when the services are reachable.
 */
export function whenServices (name: string, problem: string | undefined, register: () => void): void {
  if (problem === undefined) {
    register()
  } else if (process.env.S3IPFS_REQUIRE_SERVICES === '1') {
    test(`${name}: required services (S3IPFS_REQUIRE_SERVICES=1)`, (t) => { t.fail(problem) })
  } else {
    test(name, (t) => {
      t.log(`skipped: ${problem}`)
      t.pass()
    })
  }
}
