/**
 * A setting that stops start-up; the message names the setting and what is wrong with it. Raised
 * by the config loader and by adapters that find a setting unusable (a database URL, a TLS file).
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
