import { credentials } from './s3.js'

/** Debian's AWS CLI (`.ci/run` installs it). */
export const AWS_CLI = '/usr/bin/aws'

/**
 * The environment the AWS CLI runs with against a test gateway: the test key pair, us-east-1, no
 * config or credentials files of the machine's, no pager.
 */
export function awsCliEnv (): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_PAGER: '',
  }
}
