/** Text in the two languages the product speaks: Chinese first, English second. */
export interface LocalisedText {
  readonly zh: string;
  readonly en: string;
}
