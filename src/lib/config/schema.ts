/** zod schema of the config file (see file.ts); loaded only when a config file is found. */
import { z } from 'zod'

const duration = z.union([z.string(), z.number().nonnegative()])
const strings = z.union([z.string(), z.array(z.string())])

/** Schema of the config file; every section and key is optional. */
export const configFileSchema = z.strictObject({
  etcd: z
    .strictObject({
      endpoints: strings.optional(),
      username: z.string().optional(),
      password: z.string().optional(),
      cacert: z.string().optional(),
      cert: z.string().optional(),
      key: z.string().optional(),
      insecureSkipTlsVerify: z.boolean().optional(),
      connectionTimeout: duration.optional(),
      snapshotTimeout: duration.optional(),
      defragTimeout: duration.optional(),
    })
    .optional(),
  store: z
    .strictObject({
      url: z.string().optional(),
      provider: z.string().optional(),
      container: z.string().optional(),
      prefix: z.string().optional(),
      endpointOverride: z.string().optional(),
      minChunkSize: z.number().int().optional(),
      maxParallelChunkUploads: z.number().int().optional(),
      tempDir: z.string().optional(),
    })
    .optional(),
  snapshot: z
    .strictObject({
      compression: z.string().optional(),
    })
    .optional(),
  restore: z
    .strictObject({
      dataDir: z.string().optional(),
      name: z.string().optional(),
      initialCluster: z.string().optional(),
      initialClusterToken: z.string().optional(),
      initialAdvertisePeerUrls: strings.optional(),
      skipHashCheck: z.boolean().optional(),
    })
    .optional(),
})

export type ConfigFile = z.infer<typeof configFileSchema>
