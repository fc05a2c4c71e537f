// Amounts are integers in minor units everywhere; this is the one place they become text.
import type { Locale } from './loan';

function minorDigits(currency: string): number {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

export function toMajor(minor: number, currency: string): number {
  return minor / 10 ** minorDigits(currency);
}

/**
 * Formats an amount as borrowers of the locale expect to read it in a text message:
 * zh-CN CNY as "5000元" (decimals only when there are any), otherwise the locale's currency format.
 */
export function formatAmount(minor: number, currency: string, locale: Locale): string {
  const major = toMajor(minor, currency);
  if (locale === 'zh-CN' && currency === 'CNY') {
    const hasFraction = minor % 10 ** minorDigits(currency) !== 0;
    return `${major.toFixed(hasFraction ? 2 : 0)}元`;
  }
  return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(major);
}
