import type { Logger } from 'pino';
import { loadRulePacks, resolveRules, type PackError } from './pack-loader.js';
import type { Rule, RulePack } from './pack-schema.js';

/**
 * The rule packs in force. Loading is all-or-nothing: a reload that meets a bad pack keeps the
 * running set and reports what is wrong, so a typo never leaves scanners unwatched.
 */
export class RuleSet {
  private packs: RulePack[] = [];
  private loadedAt = 0;
  private loads = 0;

  constructor(
    readonly dir: string,
    private readonly logger?: Logger,
  ) {}

  /** Loads (or reloads) the packs of the folder; on errors the previous packs stay. */
  async load(now = Date.now()): Promise<{ ok: true; packs: number; rules: number } | { ok: false; errors: PackError[] }> {
    const result = await loadRulePacks(this.dir);
    if (!result.ok) {
      this.logger?.error({ dir: this.dir, errors: result.errors.length }, 'rule packs refused; the running rules stay');
      return result;
    }
    this.packs = result.packs;
    this.loadedAt = now;
    this.loads += 1;
    const rules = this.packs.reduce((n, p) => n + p.rules.length, 0);
    this.logger?.info({ dir: this.dir, packs: this.packs.length, rules }, 'rule packs loaded');
    return { ok: true, packs: this.packs.length, rules };
  }

  get loadedAtMs(): number {
    return this.loadedAt;
  }

  /** Changes with every successful load, so callers can cache what they derive from the rules. */
  get generation(): number {
    return this.loads;
  }

  list(): readonly RulePack[] {
    return this.packs;
  }

  /** The rules in force for one device (its modality's pack with model and device overrides). */
  forDevice(device: { id: string; modality: string; model: string }): Rule[] {
    const pack = this.packs.find((p) => p.modality === device.modality);
    return pack ? resolveRules(pack, { model: device.model, deviceId: device.id }) : [];
  }
}
