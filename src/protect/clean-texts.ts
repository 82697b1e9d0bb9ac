/**
 * Short texts a check found clean, remembered: keys, type names and statuses come back in every
 * result (`"content"`, `"text"`), each a whole check for nothing. Only texts of at most 64 units
 * and at most 1024 of them (all forgotten when full), so a caller sending endless new texts costs
 * no more memory than that. The owner keys it: a check whose verdict depends on more than the
 * text clears it when that changes.
 */
const MAX_LENGTH = 64;
const MAX_TEXTS = 1024;

export class CleanTexts {
  private readonly texts = new Set<string>();

  /** Whether `text` is short enough to be remembered at all. */
  fits(text: string): boolean {
    return text.length <= MAX_LENGTH;
  }

  has(text: string): boolean {
    return text.length <= MAX_LENGTH && this.texts.has(text);
  }

  add(text: string): void {
    if (text.length > MAX_LENGTH) return;
    if (this.texts.size >= MAX_TEXTS) this.texts.clear();
    this.texts.add(text);
  }

  clear(): void {
    this.texts.clear();
  }
}
