/**
 * Where each setting came from, so that an error names what the user actually wrote: the flag
 * (`--etcd-connection-timeout`), the environment variable (`STEWARD_ENDPOINTS`), or the config
 * file and key (`/etc/steward.yaml: etcd.connectionTimeout`). oclif fills a flag from its
 * variable, so both arrive as the flag; {@link StewardCommand} records which flags came from
 * the environment, and {@link loadConfigFile} records the file's path, each as a hidden
 * (non-enumerable) property, so the resolvers' signatures stay `(flags, file)`.
 * See docs/configuration.md ("Error messages name the source").
 */
const FROM_ENV = Symbol('steward.flagsFromEnvironment')
const FILE_PATH = Symbol('steward.configFilePath')

/**
 * Records that `flags[name]` was filled from environment variable `variable` (not the command line).
 * @param fromEnv flag long name → variable name
 */
export function markFlagsFromEnvironment(flags: object, fromEnv: Readonly<Record<string, string>>): void {
  Object.defineProperty(flags, FROM_ENV, { value: fromEnv, enumerable: false, configurable: true })
}

/** Records the path a parsed config file was read from. */
export function markConfigFilePath(config: object, path: string): void {
  Object.defineProperty(config, FILE_PATH, { value: path, enumerable: false, configurable: true })
}

/** `--name`, or the environment variable that filled it. */
export function flagSource(flags: object, name: string): string {
  const fromEnv = (flags as { [FROM_ENV]?: Record<string, string> })[FROM_ENV]
  return fromEnv?.[name] ?? `--${name}`
}

/** `<path>: <key>` for a config-file key (`config file: <key>` when the path is unknown). */
export function fileSource(file: object, key: string): string {
  const path = (file as { [FILE_PATH]?: string })[FILE_PATH]
  return `${path ?? 'config file'}: ${key}`
}

/**
 * A setting's value and where it came from: the flag (or its variable) wins, then the file key,
 * then the default, which is named after the flag.
 */
export function pick<T>(flags: object, flag: string, flagValue: T | undefined, file: object, key: string, fileValue: T | undefined, fallback: T): { value: T; source: string } {
  if (flagValue !== undefined) return { value: flagValue, source: flagSource(flags, flag) }
  if (fileValue !== undefined) return { value: fileValue, source: fileSource(file, key) }
  return { value: fallback, source: `--${flag} (default)` }
}
