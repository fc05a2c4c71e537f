// What a borrower's free-text SMS reply means for the texts they get. An opt-out however worded
// is honoured (US Reg F 1006.6(e); the TCPA since April 2025: revocation by any reasonable means):
// the keywords of the TCPA's list and the Chinese SMS convention (退订 / TD), and plain language
// that clearly asks for no more texts. A reply that may mean "stop" but not clearly is for a person
// to read, with no text meanwhile; anything else goes to operations while reminders go on.

/** `opt-out`: no more texts. `unclear`: perhaps a stop, for a person to read first. `other`: neither. */
export type ReplyMeaning = 'opt-out' | 'unclear' | 'other';

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

/** Plain-language requests for no more texts, in English and Chinese (matched on folded text). */
const CLEAR_STOP: readonly RegExp[] = [
  // "stop", "please stop", "stop it please", "STOP!!!": a keyword with only courtesy around it.
  /^(?:please |pls |plz )?(?:stop|quit|unsubscribe|cancel|end|opt ?out)(?: it| now| please| pls| plz| thanks?| thank you)*$/,
  /\b(?:stop|quit|cease|end)\s+(?:texting|txting|messaging|sending|contacting|spamming|bothering|harassing|reminding)\b/,
  /\b(?:stop|no more|quit)\b.{0,30}\b(?:texts?|txts?|messages?|msgs?|sms|reminders?)\b/,
  /\b(?:don'?t|do not|dont|never)\s+(?:ever\s+)?(?:text|txt|message|msg|sms|contact)\b/,
  /\b(?:unsubscribe|opt[- ]?out|remove me|take me off|leave me alone)\b/,
  /\b(?:revoke|withdraw)\b.{0,20}\bconsent\b/,
  /(?:别|不要|不许|勿|请勿|禁止|停止|不准|不用)再?(?:给我|跟我|向我)?(?:发|发送|发信息|发短信|短信|联系|打扰|骚扰|催)/,
  /(?:退订|取消订阅|取消短信|拒收|屏蔽|不想再?收到|不再接收|别烦我|不要烦我)/,
  /^(?:停|停止|退|td)(?:吧|了|谢谢)*$/,
];

/** Words that may mean "stop" without saying it clearly: a person reads such a reply first. */
const STOP_CUES: readonly RegExp[] = [
  /\b(?:stop\w*|quit|cancel\w*|end|remove|block\w*|harass\w*|spam\w*|annoy\w*|enough|unsub\w*)\b/,
  /(?:停|别|不要|取消|退|拒|骚扰|烦|够了|投诉)/,
];

/** The reply folded: compatibility forms (full-width) to plain, lower case, one space, no trailing marks. */
function fold(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[’‘`]/g, "'")
    .replace(/\s+/g, ' ')
    .replace(/[\s.!?,;:。！？，、~\p{Extended_Pictographic}\u{FE0F}]+$/u, '')
    .replace(/^[\s.!?,;:。！？，、~\p{Extended_Pictographic}\u{FE0F}]+/u, '')
    .trim();
}

/** True when the whole reply, trimmed and case-folded, is an opt-out keyword. */
export function isOptOutReply(text: string): boolean {
  return OPT_OUT.has(fold(text).toUpperCase());
}

export function replyMeaning(text: string): ReplyMeaning {
  const t = fold(text);
  if (OPT_OUT.has(t.toUpperCase()) || CLEAR_STOP.some((r) => r.test(t))) return 'opt-out';
  if (STOP_CUES.some((r) => r.test(t))) return 'unclear';
  return 'other';
}
