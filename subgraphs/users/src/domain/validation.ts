/**
 * Input rules for users: email syntax and normalization, name limits. Pure functions, no I/O.
 */
import { badUserInput } from '@paygraph/errors';

export const EMAIL_LENGTH_MAX = 254;
export const EMAIL_LOCAL_LENGTH_MAX = 64;
export const NAME_LENGTH_MAX = 100;

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

// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f]/;

export function normalizeName(raw: string, field: string): string {
  const name = raw.trim();
  if (name.length === 0) throw badUserInput('Name must not be blank', field);
  if (name.length > NAME_LENGTH_MAX) throw badUserInput(`Name must be at most ${NAME_LENGTH_MAX} characters`, field);
  if (controlCharacters.test(name)) throw badUserInput('Name must not contain control characters', field);
  return name;
}
