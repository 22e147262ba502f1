/**
 * Input rules for users: email syntax and normalization, name limits. Pure functions, no I/O.
 */
import { badUserInput } from '@paygraph/errors';

export const EMAIL_LENGTH_MAX = 254;
export const EMAIL_LOCAL_LENGTH_MAX = 64;
export const NAME_LENGTH_MAX = 100;
/** Longest password sent on to auth for a check (its policy allows 128). */
export const PASSWORD_INPUT_LENGTH_MAX = 128;

const emailShape = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

/** Trims and lower-cases an email; rejects anything that is not one address of a sane length. */
export function normalizeEmail(raw: string, field: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length === 0) throw badUserInput('Email must not be blank', field);
  if (email.length > EMAIL_LENGTH_MAX) throw badUserInput(`Email must be at most ${EMAIL_LENGTH_MAX} characters`, field);
  const at = email.lastIndexOf('@');
  if (!emailShape.test(email) || at > EMAIL_LOCAL_LENGTH_MAX) throw badUserInput('Email is not a valid address', field);
  return email;
}

/**
 * A new address (registration, an email change): as normalizeEmail, and without control or
 * invisible format characters or compatibility forms, which would let `us\u200ber@example.com` or
 * `user@ｅxample.com` pass for another user's address in admin and audit views. Lookups keep normalizeEmail alone, so no stored address stops
 * being found.
 */
export function normalizeNewEmail(raw: string, field: string): string {
  const email = normalizeEmail(raw, field);
  if (controlCharacters.test(email)) throw badUserInput('Email must not contain control or invisible formatting characters', field);
  // Fullwidth and other compatibility forms read as plain letters: `user@ｐrobe.test` would pass
  // for `user@probe.test` (found by the auth probe).
  if (email.normalize('NFC') !== email.normalize('NFKC')) throw badUserInput('Email must not contain fullwidth or other compatibility forms of letters and digits', field);
  return email;
}

/**
 * C0/C1 controls and Unicode format characters (bidirectional overrides such as U+202E, zero-width
 * characters): they can make a name display as something else than it is.
 */
const controlCharacters = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
/**
 * What mail and chat clients turn into links: a scheme (`https://`, `javascript:` with `//`),
 * `www.`, an email address, or a domain name (`word.tld`, the TLD 2 to 24 letters of any script, or
 * punycode; fullwidth and ideographic dots count as dots). Names are shown
 * to other users (a merchant's name in a buyer's receipt), so a name must not carry a link: a
 * merchant named "Security team: verify at evil.example" would speak with the platform's voice.
 */
const linkLike = [
  /[a-z][a-z0-9+.-]*:\/\//i,
  /:\/\//,
  /\bwww[.\uff0e\u3002\uff61]/i,
  /[^\s@\uff20]+[@\uff20][^\s@\uff20]+[.\uff0e\u3002\uff61][^\s@\uff20]+/u,
  // Any script's letters, and the dots a browser reads as one (fullwidth, ideographic): `пример.рф`,
  // `ｅｖｉｌ．ｃｏｍ` and `evil。com` are links as much as `evil.com`; so is a punycode label.
  /[\p{L}\p{N}-][.\uff0e\u3002\uff61]\p{L}{2,24}(?![\p{L}\p{N}-])/iu,
  /[.\uff0e\u3002\uff61]xn--[a-z0-9-]+/i,
  // An address without a domain name: an IPv4 address (`203.0.113.5/verify`), a bracketed IPv6 one
  // (`[::1]:8080`), `localhost`.
  /(?<![\p{L}\p{N}.])\d{1,3}(?:\.\d{1,3}){3}(?![\p{L}\p{N}])/u,
  /\[[0-9a-f.]*:[0-9a-f:.]*\]/i,
  /\blocalhost\b/i,
  // Schemes that run or carry content without `//`.
  /\b(?:javascript|vbscript|mailto):/i,
  /\bdata:[a-z-]+\/[\w.+-]+/i,
  /\bfile:\//i,
];

/**
 * Characters that show as nothing although Unicode classes them as letters or symbols, so a name
 * of them looks blank (U+2800 Braille blank, the Hangul fillers, U+034F combining grapheme joiner,
 * the Khmer inherent vowels, U+180E Mongolian vowel separator).
 */
const invisibleFillers = /[\u034f\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0]/u;

/** Why a display name may not be used (a link, a control character), or null. Pure. */
export function nameProblem(name: string): string | null {
  if (controlCharacters.test(name)) return 'Name must not contain control characters';
  if (invisibleFillers.test(name)) return 'Name must not contain invisible filler characters';
  // Compatibility forms read as their plain letters: `evil․com` (U+2024) and `evil﹒com` (U+FE52) are `evil.com`.
  const folded = name.normalize('NFKC');
  if (linkLike.some((pattern) => pattern.test(name) || pattern.test(folded))) return 'Name must not contain a web address, domain name or email address';
  return null;
}

export function normalizeName(raw: string, field: string): string {
  const name = raw.trim();
  if (name.length === 0) throw badUserInput('Name must not be blank', field);
  if (name.length > NAME_LENGTH_MAX) throw badUserInput(`Name must be at most ${NAME_LENGTH_MAX} characters`, field);
  const problem = nameProblem(name);
  if (problem) throw badUserInput(problem, field);
  return name;
}
