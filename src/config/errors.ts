/** A config that cannot be used; `problems` are `path: message` lines, each naming its YAML path. */
export class ConfigError extends Error {
  readonly code = "config_invalid";
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: ${problems.length} problem(s)\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}
