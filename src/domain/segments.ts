// SMS segment counts: what a message costs and how it arrives on the phone.

const GSM7 = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** Characters of the GSM-7 extension table, which take two septets each. */
const GSM7_EXT = new Set('^{}\\[~]|€\f');

export interface Segments {
  encoding: 'GSM-7' | 'UCS-2';
  characters: number;
  segments: number;
}

/** GSM-7: 160 septets in one segment, 153 per part when split; UCS-2: 70, and 67 per part. */
export function smsSegments(body: string): Segments {
  const chars = [...body];
  if (chars.every((c) => GSM7.has(c) || GSM7_EXT.has(c))) {
    const septets = chars.reduce((n, c) => n + (GSM7_EXT.has(c) ? 2 : 1), 0);
    return { encoding: 'GSM-7', characters: septets, segments: septets <= 160 ? 1 : Math.ceil(septets / 153) };
  }
  // UCS-2 counts UTF-16 code units: a character outside the BMP (an emoji) takes two.
  const units = body.length;
  return { encoding: 'UCS-2', characters: units, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
}
