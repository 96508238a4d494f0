/**
 * Baseline for bench/upload.ts: a plain SDK upload of one local file, run as its own Node
 * process (so its wall time includes process start and SDK loading, as steward's does).
 *
 *   node bench/upload-baseline.ts s3  FILE ENDPOINT BUCKET KEY PART_SIZE QUEUE_SIZE
 *   node bench/upload-baseline.ts abs FILE ACCOUNT_URL CONTAINER BLOB BLOCK_SIZE CONCURRENCY
 *
 * s3:  `@aws-sdk/lib-storage` Upload of `fs.createReadStream(FILE)`, path-style, static keys
 *      from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region AWS_REGION (default us-east-1);
 *      SDK defaults otherwise (retries, checksums, HTTP agent).
 * abs: `BlockBlobClient.uploadFile(FILE)` with that block size and concurrency, and
 *      `maxSingleShotSize` = block size (as steward: one Put Blob only when the body fits in
 *      one block); Shared Key from AZURE_STORAGE_ACCOUNT / AZURE_STORAGE_KEY; SDK defaults
 *      otherwise.
 * Prints nothing on success; exits 1 with the error on failure.
 */
import { createReadStream } from 'node:fs'

const [kind, file, endpoint, container, key, sizeText, parallelText] = process.argv.slice(2)
if (!kind || !file || !endpoint || !container || !key || !sizeText || !parallelText) {
  console.error('usage: node bench/upload-baseline.ts s3|abs FILE ENDPOINT BUCKET|CONTAINER KEY PART_SIZE PARALLEL')
  process.exit(64)
}
const partSize = Number(sizeText)
const parallel = Number(parallelText)

if (kind === 's3') {
  const { S3Client } = await import('@aws-sdk/client-s3')
  const { Upload } = await import('@aws-sdk/lib-storage')
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: process.env['AWS_REGION'] ?? 'us-east-1',
    credentials: { accessKeyId: required('AWS_ACCESS_KEY_ID'), secretAccessKey: required('AWS_SECRET_ACCESS_KEY') },
  })
  try {
    const upload = new Upload({ client, params: { Bucket: container, Key: key, Body: createReadStream(file) }, partSize, queueSize: parallel, leavePartsOnError: false })
    await upload.done()
  } finally {
    client.destroy()
  }
} else if (kind === 'abs') {
  const { BlockBlobClient, StorageSharedKeyCredential } = await import('@azure/storage-blob')
  const credential = new StorageSharedKeyCredential(required('AZURE_STORAGE_ACCOUNT'), required('AZURE_STORAGE_KEY'))
  const blob = new BlockBlobClient(`${endpoint.replace(/\/+$/, '')}/${encodeURIComponent(container)}/${key}`, credential)
  await blob.uploadFile(file, { blockSize: partSize, concurrency: parallel, maxSingleShotSize: partSize })
} else {
  console.error(`unknown kind ${JSON.stringify(kind)}: use s3 or abs`)
  process.exit(64)
}

function required(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}
