/**
 * `${VAR}` substitution on the parsed document's string values, never on the YAML text, so an
 * environment value cannot change the document's structure. `$${X}` stays a literal `${X}`.
 */
const PATTERN = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
  /** Receives the YAML path of each value that named a missing variable. */
  missing: Set<string> = new Set(),
): unknown {
  return substitute(value, env, problems, missing, "");
}

function substitute(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
  missing: Set<string>,
  path: string,
): unknown {
  if (typeof value === "string") {
    return value.replace(PATTERN, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1);
      const found = env[name];
      if (found === undefined) {
        problems.push(`${path || "(root)"}: environment variable ${name} is not set`);
        missing.add(path || "(root)");
        return "";
      }
      return found;
    });
  }
  if (Array.isArray(value))
    return value.map((v, i) => substitute(v, env, problems, missing, `${path}[${i}]`));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty: a `__proto__` key stays an own (and so rejected) key, not a prototype.
      Object.defineProperty(out, k, {
        value: substitute(v, env, problems, missing, path ? `${path}.${k}` : k),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
