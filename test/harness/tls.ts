/** Throwaway TLS material (CA, server and client certificates) made with the `openssl` CLI. */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** PEM file paths. The server certificate is valid for IP 127.0.0.1 and DNS localhost. */
export interface TlsMaterial {
  caFile: string
  certFile: string
  keyFile: string
  clientCertFile: string
  clientKeyFile: string
}

/** Days the certificates are valid. */
const VALID_DAYS = '2'

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd })
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? ''
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr.trim() || String(error)}`, { cause: error })
  }
}

async function newKey(file: string, cwd: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd)
}

/** Signs `name`.csr with the CA (or self-signs when `name` is `ca`) using the extensions in `ext`. */
async function sign(name: string, subject: string, ext: string, cwd: string): Promise<void> {
  await newKey(`${name}.key`, cwd)
  await openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], cwd)
  await writeFile(join(cwd, `${name}.ext`), ext)
  const issuer = name === 'ca' ? ['-signkey', 'ca.key'] : ['-CA', 'ca.crt', '-CAkey', 'ca.key']
  const serial = `0x${randomBytes(8).toString('hex')}`
  await openssl(['x509', '-req', '-in', `${name}.csr`, ...issuer, '-set_serial', serial, '-days', VALID_DAYS, '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`], cwd)
}

/**
 * Writes a CA, a server certificate (SAN IP:127.0.0.1, DNS:localhost; server and client auth,
 * as etcd's gateway dials itself with it) and a client certificate into `dir` (created if missing).
 * The client's CN is not an etcd user name, so with auth enabled it still needs a password.
 */
export async function makeTlsMaterial(dir: string): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true })
  await sign('ca', '/CN=steward-test-ca', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n', dir)
  const leaf = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
  await sign('server', '/CN=localhost', `${leaf}extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n`, dir)
  await sign('client', '/CN=steward-test-client', `${leaf}extendedKeyUsage=clientAuth\n`, dir)
  return {
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  }
}
