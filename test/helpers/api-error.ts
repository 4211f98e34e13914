// The `field` an ApiError names, for tests of the pure parsers that throw one (no HTTP needed).
import { ApiError } from '../../src/http/errors.js';

/** The field `fn` refuses, '(no error)' when it accepts; anything but an ApiError is rethrown. */
export const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err.field;
    throw err;
  }
  return '(no error)';
};
