import { readFile } from 'node:fs/promises';
import { checkPackSet, formatPackError, parseRulePack, type PackError } from '../../rules/pack-loader.js';
import type { RulePack } from '../../rules/pack-schema.js';

/**
 * `guardian rules check FILE…`: validates rule packs without loading them, one line per problem
 * in the `file:line:col:` form editors jump to. Files checked together must also be loadable
 * together (no shared pack id, one pack per modality). Returns the exit code.
 */
export async function runRulesCheck(files: readonly string[]): Promise<number> {
  const errors: PackError[] = [];
  const good: Array<{ file: string; text: string; pack: RulePack }> = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      errors.push({ file, line: 1, column: 1, path: '', message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
      continue;
    }
    const parsed = parseRulePack(text, file);
    if (parsed.ok) good.push({ file, text, pack: parsed.pack });
    else errors.push(...parsed.errors);
  }
  const setErrors = checkPackSet(good);
  errors.push(...setErrors);
  const failed = new Set(errors.map((e) => e.file));
  for (const { file, pack } of good) {
    if (!failed.has(file)) console.log(`ok: ${file} (${pack.rules.length} rules)`);
  }
  for (const e of errors) console.error(formatPackError(e));
  return errors.length > 0 ? 1 : 0;
}
