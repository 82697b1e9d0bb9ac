/** A response body past the reader's bound: the rest was not read. */
export class BodyTooLarge extends Error {
  readonly code = "ERR_BODY_TOO_LARGE";
}

/** A response's whole body, read chunk by chunk and cancelled once it passes `limit` bytes. */
export async function readBounded(res: Response, limit: number): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge(`response body past ${limit} bytes`);
    }
    chunks.push(value);
  }
}
