// Which wording a loan gets: an A/B variant fixed by its id, or the gentle one after the borrower
// found the tone harsh. Deterministic, so the workflow, replays and the analytics agree.

export type Variant = 'A' | 'B' | 'gentle';

/** FNV-1a over the loan id: stable across processes and versions, spreads ids evenly. */
export function abVariant(loanId: string): 'A' | 'B' {
  let h = 0x811c9dc5;
  for (let i = 0; i < loanId.length; i++) {
    h ^= loanId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 2 === 0 ? 'A' : 'B';
}

/** A tone rating this low (out of 5) counts as "too harsh". */
export const HARSH_TONE_AT_MOST = 2;
