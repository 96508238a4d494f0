import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { storeReadFlags } from '../lib/cli/flags.ts'
import { openBackupStoreIfConfigured, using } from '../lib/context.ts'
import { ERROR_CODES } from '../lib/errors.ts'
import { validateDataDir, type ValidationResult } from '../lib/validate/validate.ts'

export default class Validate extends StewardCommand {
  static override summary = 'Check an etcd data directory before starting etcd on it.'
  static override description = `Checks the structure (member/snap, member/wal), that the bbolt database is readable,
and — with a store — that its revision is not older than the newest backup. Exit code 0 when
valid; otherwise the code of the failure (31 invalid, 32 behind the backup).`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --data-dir /var/etcd/data/new.etcd',
    '<%= config.bin %> <%= command.id %> --data-dir /var/etcd/data/new.etcd --store file:///var/backups/etcd-main --json',
  ]
  static override flags = {
    ...storeReadFlags,
    'data-dir': Flags.string({ char: 'd', summary: 'Data directory to check. [default: default.etcd]', env: 'STEWARD_DATA_DIR' }),
  }

  async run(): Promise<ValidationResult> {
    const { flags } = await this.parse(Validate)
    const { config } = await this.configFile(flags)
    const store = await openBackupStoreIfConfigured(flags, config)
    const dataDir = flags['data-dir'] ?? config.restore?.dataDir ?? 'default.etcd'
    const result = await using([store], () => validateDataDir(dataDir, store))
    for (const check of result.checks) this.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`)
    this.log(result.valid ? `${dataDir} is valid.` : `${dataDir} is not valid (${result.status}).`)
    if (result.failure) process.exitCode = ERROR_CODES[result.failure.code].exit
    return result
  }
}
