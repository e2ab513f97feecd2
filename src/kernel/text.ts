/** Text in the two languages the product speaks: Chinese first, English second. */
export interface LocalisedText {
  readonly zh: string;
  readonly en: string;
}

/**
 * Text a person typed that every store keeps as typed: no U+0000 (PostgreSQL text cannot hold it)
 * and no half of a surrogate pair. Line breaks and tabs are fine.
 */
export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes('\u0000');
}

/** A name, label or code on one line: storable, and no control characters at all. */
export function isSingleLineText(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  return text.isWellFormed() && !/[\u0000-\u001f\u007f]/.test(text);
}

export const STORABLE_TEXT_MESSAGE = 'must not contain U+0000 or broken characters (half of a surrogate pair)';
export const SINGLE_LINE_TEXT_MESSAGE = 'must be one line of text without control characters';
