// What a borrower's free-text SMS reply means, where a keyword decides it. Opt-out keywords follow
// the TCPA's 2025 list and the Chinese SMS convention (退订 / TD).

const OPT_OUT = new Set([
  'STOP',
  'STOPALL',
  'QUIT',
  'END',
  'REVOKE',
  'OPT OUT',
  'OPTOUT',
  'CANCEL',
  'UNSUBSCRIBE',
  '退订',
  'TD',
]);

/** True when the whole reply, trimmed and case-folded, is an opt-out keyword. */
export function isOptOutReply(text: string): boolean {
  const t = text
    .normalize('NFKC')
    .trim()
    .replace(/[\s.!。！]+$/u, '')
    .replace(/\s+/g, ' ')
    .toUpperCase();
  return OPT_OUT.has(t);
}
