/** Durations in alert messages, in the reader's language ("1 天" / "1 day", "30 分钟" / "30 minutes"). */

const UNITS = [
  { ms: 86_400_000, zh: '天', en: ['day', 'days'] },
  { ms: 3_600_000, zh: '小时', en: ['hour', 'hours'] },
  { ms: 60_000, zh: '分钟', en: ['minute', 'minutes'] },
  { ms: 1000, zh: '秒', en: ['second', 'seconds'] },
] as const;

/** The largest unit the duration fills at least once, to one decimal when it is not whole. */
export function describeDuration(ms: number, language: 'zh' | 'en'): string {
  const unit = UNITS.find((u) => ms >= u.ms) ?? UNITS[3];
  const amount = Math.round((ms / unit.ms) * 10) / 10;
  const text = Number.isInteger(amount) ? String(amount) : amount.toFixed(1);
  return language === 'zh' ? `${text} ${unit.zh}` : `${text} ${amount === 1 ? unit.en[0] : unit.en[1]}`;
}
