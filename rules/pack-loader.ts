/**
 * Reads rule packs and reports every problem with file, line and column, so an engineer can fix a
 * pack before it is loaded. Loading is all-or-nothing: a caller reloading packs keeps the running
 * set when any file is refused.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isCollection, isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { mergePatch, RulePackSchema, RuleSchema, type Rule, type RulePack } from './pack-schema.js';

export interface PackError {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** Dotted path of the offending field, e.g. `rules[2].levels.general.clear`; empty for syntax errors. */
  readonly path: string;
  readonly message: string;
}

export type ParseResult = { ok: true; pack: RulePack } | { ok: false; errors: PackError[] };
export type LoadResult = { ok: true; packs: RulePack[] } | { ok: false; errors: PackError[] };

export function formatPackError(e: PackError): string {
  return `${e.file}:${e.line}:${e.column}: ${e.path ? `${e.path}: ` : ''}${e.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `${out ? '.' : ''}${String(seg)}`;
  return out;
}

export function parseRulePack(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): { line: number; column: number } => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ file, ...at(e.pos[0]), path: '', message: e.message.split('\n')[0] ?? e.message })),
    };
  }
  const result = RulePackSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return { ok: true, pack: result.data };
  return { ok: false, errors: result.error.issues.map((issue) => issueToError(issue, doc, file, at)) };
}

function issueToError(
  issue: z.core.$ZodIssue,
  doc: Document,
  file: string,
  at: (offset: number) => { line: number; column: number },
): PackError {
  let path: PropertyKey[] = [...issue.path];
  let message = issue.message;
  let atKey = false;
  // Point at the unknown key itself rather than at the map holding it.
  if (issue.code === 'unrecognized_keys') {
    message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    if (issue.keys[0] !== undefined) path = [...path, issue.keys[0]];
    atKey = true;
  }
  const offset = locate(doc, path, atKey);
  return { file, ...at(offset), path: formatPath(path), message };
}

/**
 * Offset of the YAML node for a path, or of the nearest existing parent when the field is
 * missing. Block maps and lists are reported at their key, which is the line people read as "the
 * field"; scalars and flow collections at the value.
 */
function locate(doc: Document, path: readonly PropertyKey[], atKey = false): number {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? (node.range?.[0] ?? 0) : 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyOf(p.key) === String(seg));
      if (!pair) break;
      const keyStart = isNode(pair.key) ? pair.key.range?.[0] : undefined;
      const value = pair.value;
      if (!atKey && isNode(value) && value.range && (isScalar(value) || (isCollection(value) && value.flow))) offset = value.range[0];
      else offset = keyStart ?? offset;
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!isNode(item)) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

function keyOf(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

/** Fails a set of packs that would be ambiguous to load together. */
export function checkPackSet(entries: ReadonlyArray<{ file: string; text: string; pack: RulePack }>): PackError[] {
  const errors: PackError[] = [];
  const byId = new Map<string, string>();
  const byModality = new Map<string, string>();
  for (const { file, text, pack } of entries) {
    const where = (key: string): { line: number; column: number } => {
      const lineCounter = new LineCounter();
      const doc = parseDocument(text, { lineCounter });
      const pos = lineCounter.linePos(locate(doc as Document, [key]));
      return { line: pos.line, column: pos.col };
    };
    const otherId = byId.get(pack.pack);
    if (otherId !== undefined) errors.push({ file, ...where('pack'), path: 'pack', message: `pack id '${pack.pack}' is also used by ${otherId}` });
    else byId.set(pack.pack, file);
    const otherModality = byModality.get(pack.modality);
    if (otherModality !== undefined) {
      errors.push({ file, ...where('modality'), path: 'modality', message: `modality ${pack.modality} already has a pack in ${otherModality}` });
    } else byModality.set(pack.modality, file);
  }
  return errors;
}

/** Reads and checks every `*.yaml` / `*.yml` in a folder; refuses the whole set on any error. */
export async function loadRulePacks(dir: string): Promise<LoadResult> {
  const names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  const errors: PackError[] = [];
  const entries: Array<{ file: string; text: string; pack: RulePack }> = [];
  for (const name of names) {
    const file = join(dir, name);
    const text = await readFile(file, 'utf8');
    const parsed = parseRulePack(text, file);
    if (parsed.ok) entries.push({ file, text, pack: parsed.pack });
    else errors.push(...parsed.errors);
  }
  errors.push(...checkPackSet(entries));
  return errors.length > 0 ? { ok: false, errors } : { ok: true, packs: entries.map((e) => e.pack) };
}

/**
 * The rules that apply to one device: the pack's rules with the model's overrides, then the
 * device's, merged on top; a rule whose result has `enabled: false` is left out.
 */
export function resolveRules(pack: RulePack, target: { model?: string; deviceId?: string }): Rule[] {
  const modelPatches = target.model === undefined ? undefined : pack.overrides?.models?.[target.model];
  const devicePatches = target.deviceId === undefined ? undefined : pack.overrides?.devices?.[target.deviceId];
  const out: Rule[] = [];
  for (const rule of pack.rules) {
    let raw: unknown = rule;
    const modelPatch = modelPatches?.[rule.id];
    const devicePatch = devicePatches?.[rule.id];
    if (modelPatch === undefined && devicePatch === undefined) {
      if (rule.enabled) out.push(rule);
      continue;
    }
    if (modelPatch !== undefined) raw = mergePatch(raw, modelPatch);
    if (devicePatch !== undefined) raw = mergePatch(raw, devicePatch);
    // Parsed rules hold durations in ms, which the schema accepts again, so re-parsing applies
    // defaults and transforms to the patched fields only. Each patch was validated with the pack,
    // but a model and a device patch together can still contradict each other.
    const effective = RuleSchema.safeParse(raw);
    if (!effective.success) {
      const why = effective.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ');
      throw new Error(`rule '${rule.id}' of pack '${pack.pack}' is invalid with the overrides of model ${target.model ?? '-'} and device ${target.deviceId ?? '-'}: ${why}`);
    }
    if (effective.data.enabled) out.push(effective.data);
  }
  return out;
}
