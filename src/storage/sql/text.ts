/**
 * Text as both SQL databases keep it alike. PostgreSQL text cannot hold U+0000 (a JSON "\u0000"
 * decodes to it), and half a surrogate pair (a string cut through an emoji) reads back as one
 * U+FFFD from PostgreSQL but three from SQLite: both become one U+FFFD before they are stored.
 */
export function storableText(text: string): string {
  return text.toWellFormed().replaceAll('\u0000', '\uFFFD');
}

export function storableOrNull(text: string | undefined): string | null {
  return text === undefined ? null : storableText(text);
}
