/**
 * What every steward command shares: global flags, config-file loading, progress, and one
 * `catch` that maps a {@link StewardError} to its exit code and prints it as text or, with
 * `--json`, as `{"error": {...}}` on stdout.
 */
import { Command, type Interfaces } from '@oclif/core'
import { loadConfigFile, type LoadedConfigFile } from '../config/file.ts'
import { markFlagsFromEnvironment } from '../config/sources.ts'
import { StewardError, exitCodeFor, isStewardError, messageOf } from '../errors.ts'
import { logger, resolveLogLevel } from '../log.ts'
import { capYoungGeneration } from '../memory.ts'
import { createProgress, type ProgressReporter } from './progress.ts'
import { globalFlags } from './flags.ts'
import { normalizeGoFlagForms, type FlagShape } from './go-flags.ts'
import { givenIgnoredFlags, ignoredFlagWarnings } from './ignored-flags.ts'

export abstract class StewardCommand extends Command {
  static override enableJsonFlag = true
  static override baseFlags = globalFlags

  #configFile: LoadedConfigFile | undefined

  /**
   * Caps V8's young generation (memory.ts: the same bound however steward was started) and
   * rewrites Go/pflag boolean forms (`--flag=true|false`) before oclif parses the arguments.
   */
  override async init(): Promise<void> {
    capYoungGeneration()
    const ctor = this.constructor as typeof StewardCommand
    const flags = { ...ctor.baseFlags, ...ctor.flags } as unknown as Record<string, FlagShape>
    this.argv = normalizeGoFlagForms(this.argv, flags)
    await super.init()
  }

  /**
   * oclif's parse, then what every command needs right after it: the log level (from
   * `--log-level` or `STEWARD_LOG_LEVEL`, checked) and a warning for each given etcdbrctl flag
   * that steward accepts and ignores (see ignored-flags.ts).
   * @throws StewardError `CONFIG_INVALID` for an unknown log level
   */
  protected override async parse<F extends Interfaces.OutputFlags<any>, B extends Interfaces.OutputFlags<any>, A extends Interfaces.OutputArgs<any>>(options?: Interfaces.Input<F, B, A>, argv?: string[]): Promise<Interfaces.ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv)
    const flags = parsed.flags as Record<string, unknown>
    logger(resolveLogLevel(flags['log-level'] as string | undefined))
    const definitions = { ...options?.baseFlags, ...options?.flags } as Record<string, unknown>
    markFlagsFromEnvironment(parsed.flags, flagsFromEnvironment(flags, definitions, parsed.raw))
    for (const line of ignoredFlagWarnings(givenIgnoredFlags(flags, definitions))) this.warnIgnoredFlag(line)
    return parsed
  }

  /**
   * Reports one given accepted-and-ignored flag: a `Warning: …` line on stderr, or a `warn` log
   * line under `--json`. One unwrapped line each (oclif's `warn` wraps at hyphens), greppable in
   * CronJob logs. Commands that only log (serve) override it.
   */
  protected warnIgnoredFlag(line: string): void {
    if (this.jsonEnabled()) logger().warn(line)
    else process.stderr.write(`Warning: ${line}\n`)
  }

  /** Loads (once) the config file named by `--config`, or found from the working directory. */
  protected async configFile(flags: { config?: string | undefined }): Promise<LoadedConfigFile> {
    this.#configFile ??= await loadConfigFile(flags.config)
    return this.#configFile
  }

  /**
   * Writes a `--json` document to stdout: `JSON.stringify(json, null, 2)` and a newline, the
   * same bytes oclif's `logJson` prints unless a JSON colour theme applies (steward ships none;
   * a user's oclif theme file could colour it on a terminal, never off one). oclif's version
   * tokenises the pretty-printed text and concatenates one string per token to colour it: for
   * 10,000 objects `snapshot list --json` / `gc --dry-run --json` peaked at 184 / 175 MiB RSS
   * against 102 / 101 MiB for the table; with this writer 109 / 110 MiB (docs/benchmarks.md,
   * "`--json` output"). A string is parsed and re-indented, as oclif does.
   */
  protected override logJson(json: unknown): void {
    process.stdout.write(jsonDocument(json))
  }

  /** A progress reporter that stays quiet under `--json` on a terminal. */
  protected progress(label: string): ProgressReporter {
    return createProgress(label, { json: this.jsonEnabled() })
  }

  override async catch(error: Interfaces.CommandError): Promise<unknown> {
    // `this.exit()` and --help/--version unwind with oclif's own errors; let oclif finish them.
    if (error.name === 'ExitError' || (error as { code?: string }).code === 'EEXIT') return super.catch(error)
    const failure = toStewardError(error)
    logger().debug({ err: error }, 'command failed')
    if (this.jsonEnabled()) {
      this.logJson({ error: failure.toJSON() })
    } else {
      const hints = failure.hints.map((h) => `\n  hint: ${h}`).join('')
      process.stderr.write(`Error: ${failure.reason}${hints}\n`)
      if (failure.code === 'INTERNAL' && error.stack) process.stderr.write(`${error.stack}\n`)
    }
    process.exitCode = exitCodeFor(failure)
    return undefined
  }
}

/** The text of a `--json` document (see {@link StewardCommand.logJson}): two-space indented JSON and a newline. */
export function jsonDocument(json: unknown): string {
  const document = typeof json === 'string' ? (JSON.parse(json) as unknown) : json
  return `${JSON.stringify(document, null, 2)}\n`
}

/** Flags that oclif filled from their environment variable (given, but not on the command line): flag → variable. */
function flagsFromEnvironment(flags: Record<string, unknown>, definitions: Record<string, unknown>, raw: Interfaces.ParserOutput['raw']): Record<string, string> {
  const onCommandLine = new Set(raw.flatMap((token) => (token.type === 'flag' ? [token.flag] : [])))
  const fromEnv: Record<string, string> = {}
  for (const [name, definition] of Object.entries(definitions)) {
    const variable = (definition as { env?: string }).env
    if (variable && flags[name] !== undefined && !onCommandLine.has(name) && process.env[variable]) fromEnv[name] = variable
  }
  return fromEnv
}

/** Any thrown value as a StewardError: oclif's flag parsing errors become `CONFIG_INVALID`. */
function toStewardError(error: Interfaces.CommandError): StewardError {
  if (isStewardError(error)) {
    // oclif rewrites the message of an error thrown by a flag's parse function; restore ours.
    const rewritten = /^Parsing --\S+ \n\t(?:\[steward\] \[[^\]]*\] )?([^]*?)\nSee more help with --help$/.exec(error.message)
    return rewritten ? new StewardError(error.code, error.component, rewritten[1]!, { hints: error.hints, details: error.context, cause: error.cause }) : error
  }
  const oclifExit = (error as { oclif?: { exit?: number } }).oclif?.exit
  if (oclifExit === 2 || 'parse' in error) {
    const message = messageOf(error).split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('See more help')).join(' ')
    return new StewardError('CONFIG_INVALID', 'cli', message.replace(/^The following errors? occurred:\s*/, ''), { hints: ['see --help for the flags and their values'] })
  }
  return new StewardError('INTERNAL', 'cli', messageOf(error), { cause: error })
}
