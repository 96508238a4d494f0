/**
 * Loads the Kubernetes client configuration for every API steward calls (Leases, EtcdMembers),
 * loading `@kubernetes/client-node` lazily. First match wins (controller-runtime's order, as
 * etcd-backup-restore): `--kubeconfig`, `KUBECONFIG`, the in-cluster service account
 * (`KUBERNETES_SERVICE_HOST`; its token file is re-read every 60 s by client-node's file auth,
 * so rotated projected tokens are picked up), `~/.kube/config` (docs/kubernetes.md "Client
 * configuration").
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { StewardError } from '../errors.ts'

export interface KubeConfigOptions {
  /** `--kubeconfig` */
  readonly kubeconfig?: string | undefined
  /** `POD_NAMESPACE`; else the kubeconfig context's namespace; else `default`. */
  readonly namespace?: string | undefined
  readonly env?: NodeJS.ProcessEnv
}

export interface LoadedKubeConfig {
  /** The client-node module (already imported). */
  readonly k8s: typeof import('@kubernetes/client-node')
  readonly config: KubeConfig
  readonly namespace: string
  /** Where the configuration came from, for error messages (`--kubeconfig /x`, `the in-cluster service account`). */
  readonly source: string
}

/**
 * @throws StewardError `K8S_CONFIG_INVALID` when no configuration is found or it cannot be read
 */
export async function loadKubeConfig(options: KubeConfigOptions = {}): Promise<LoadedKubeConfig> {
  const env = options.env ?? process.env
  const k8s = await import('@kubernetes/client-node')
  const config = new k8s.KubeConfig()
  let source: string
  try {
    if (options.kubeconfig) {
      source = `--kubeconfig ${options.kubeconfig}`
      config.loadFromFile(options.kubeconfig)
    } else if (env['KUBECONFIG']) {
      source = `KUBECONFIG=${env['KUBECONFIG']}`
      config.loadFromDefault()
    } else if (env['KUBERNETES_SERVICE_HOST']) {
      source = 'the in-cluster service account'
      config.loadFromCluster()
    } else if (existsSync(join(homedir(), '.kube', 'config'))) {
      source = '~/.kube/config'
      config.loadFromDefault()
    } else {
      throw new Error('none of --kubeconfig, KUBECONFIG, KUBERNETES_SERVICE_HOST (in-cluster) or ~/.kube/config is available')
    }
    if (!config.getCurrentCluster()) throw new Error('it names no current cluster')
  } catch (error) {
    throw new StewardError('K8S_CONFIG_INVALID', 'k8s', `no usable Kubernetes client configuration: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      hints: ['pass --kubeconfig or set KUBECONFIG; in a pod the service account is used'],
    })
  }
  const namespace = options.namespace || config.getContextObject(config.getCurrentContext())?.namespace || 'default'
  return { k8s, config, namespace, source }
}

/** Rejects with `K8S_REQUEST_FAILED` when `promise` takes longer than `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let handle: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    handle = setTimeout(() => reject(new StewardError('K8S_REQUEST_FAILED', 'k8s', `${what}: no answer from the Kubernetes API within ${timeoutMs / 1000}s`)), timeoutMs)
  })
  promise.catch(() => undefined)
  return Promise.race([promise, timeout]).finally(() => clearTimeout(handle))
}
