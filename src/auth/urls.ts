/**
 * The gateway's public URLs, fixed once it listens: `gateway.public_url` when set, else the
 * listening address. Token audiences, RFC 9728 metadata and the embedded issuer derive from it.
 */
export class PublicUrls {
  readonly base: string;

  constructor(publicUrl: string | undefined, listeningUrl: string) {
    this.base = (publicUrl ?? listeningUrl).replace(/\/+$/, "");
  }

  route(path: string): string {
    return this.base + path;
  }

  /** RFC 9728 §3.1: the well-known path inserted before the resource's path. */
  resourceMetadata(path: string): string {
    return `${this.base}/.well-known/oauth-protected-resource${path}`;
  }
}
