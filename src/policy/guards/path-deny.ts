import { GuardConfigError } from "./types.js";

/**
 * Sensitive names refused even inside an allowed root. An entry starting with `/` is an absolute
 * path: it and everything below it. Any other entry is one or more components (`.ssh`,
 * `.git/config`) matched as a consecutive run anywhere below a root, and everything below that run.
 * `*` inside a component matches any characters. Matching ignores case (macOS and Windows volumes
 * do) and happens after NFKC normalisation.
 */
export const DEFAULT_PATH_DENY: readonly string[] = Object.freeze([
  // keys and credentials
  ".ssh",
  ".gnupg",
  ".aws",
  ".azure",
  ".kube",
  ".docker/config.json",
  ".config/gcloud",
  ".config/gh",
  ".netrc",
  ".npmrc",
  ".pypirc",
  ".pgpass",
  ".git-credentials",
  ".vault-token",
  ".cargo/credentials",
  ".cargo/credentials.toml",
  ".terraform.d/credentials.tfrc.json",
  "id_rsa*",
  "id_dsa*",
  "id_ecdsa*",
  "id_ed25519*",
  "*.pem",
  "*.p12",
  "*.pfx",
  "*.kdbx",
  ".env",
  ".env.*",
  // files that run code or grant tools when written
  ".git/config",
  ".git/hooks",
  "mcp.json",
  ".mcp.json",
  "claude_desktop_config.json",
  ".bashrc",
  ".bash_profile",
  ".bash_login",
  ".profile",
  ".zshrc",
  ".zshenv",
  ".zprofile",
  ".bash_history",
  ".zsh_history",
  // kernel and system interfaces
  "/proc",
  "/sys",
  "/dev",
  "/etc/shadow",
  "/etc/gshadow",
  "/etc/sudoers",
  "/etc/sudoers.d",
  "/run/secrets",
  "/var/run/secrets",
  "/run/docker.sock",
  "/var/run/docker.sock",
]);

type ComponentMatcher = string | RegExp;

interface DenyPattern {
  readonly source: string;
  readonly absolute: boolean;
  readonly components: readonly ComponentMatcher[];
}

export interface DenyList {
  /** The entry that denies `absolute` (a normalised absolute path) whose part below its root is `below`. */
  match(absolute: string, below: readonly string[]): string | undefined;
}

function compileComponent(c: string): ComponentMatcher {
  if (!c.includes("*")) return c;
  const body = c
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "s");
}

function componentMatches(m: ComponentMatcher, c: string): boolean {
  return typeof m === "string" ? m === c : m.test(c);
}

export function splitComponents(p: string): string[] {
  return p
    .toLowerCase()
    .split("/")
    .filter((c) => c !== "");
}

export function compileDenyList(entries: readonly string[], option: string): DenyList {
  const patterns: DenyPattern[] = entries.map((entry, i) => {
    if (typeof entry !== "string" || entry.trim() === "" || entry.includes("\0") || entry.includes("\\")) {
      throw new GuardConfigError(`${option}[${i}]`, "must be a non-empty path or name");
    }
    const normal = entry.normalize("NFKC");
    const components = splitComponents(normal);
    if (components.some((c) => c === "." || c === "..")) {
      throw new GuardConfigError(`${option}[${i}]`, "must not contain . or .. components");
    }
    if (components.length === 0) throw new GuardConfigError(`${option}[${i}]`, "must not be /");
    return { source: entry, absolute: normal.startsWith("/"), components: components.map(compileComponent) };
  });

  return {
    match(absolute, below) {
      let all: string[] | undefined;
      for (const p of patterns) {
        if (p.absolute) {
          all ??= splitComponents(absolute);
          if (runAt(p.components, all, 0)) return p.source;
        } else {
          for (let i = 0; i + p.components.length <= below.length; i++) {
            if (runAt(p.components, below, i)) return p.source;
          }
        }
      }
      return undefined;
    },
  };
}

function runAt(pattern: readonly ComponentMatcher[], components: readonly string[], at: number): boolean {
  if (at + pattern.length > components.length) return false;
  for (let k = 0; k < pattern.length; k++) {
    if (!componentMatches(pattern[k] as ComponentMatcher, components[at + k] as string)) return false;
  }
  return true;
}
