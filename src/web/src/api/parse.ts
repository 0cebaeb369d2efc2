/**
 * Small parsers that turn the controller's JSON into typed shapes at the boundary: anything that
 * does not match fails here, with the path of the offending field, instead of deep in a component.
 */

/** The controller answered something this console does not understand. */
export class ParseError extends Error {
  constructor(
    readonly path: string,
    readonly expected: string,
  ) {
    super(`unexpected answer from the controller: ${path} is not ${expected}`);
    this.name = 'ParseError';
  }
}

/** Turns an unknown value into a T, or throws ParseError naming `path`. */
export type Parser<T> = (value: unknown, path: string) => T;
export type Parsed<P> = P extends Parser<infer T> ? T : never;

export const string: Parser<string> = (value, path) => {
  if (typeof value !== 'string') throw new ParseError(path, 'a string');
  return value;
};

export const number: Parser<number> = (value, path) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ParseError(path, 'a number');
  return value;
};

export const boolean: Parser<boolean> = (value, path) => {
  if (typeof value !== 'boolean') throw new ParseError(path, 'true or false');
  return value;
};

/** Anything: for free-form fields such as an event's detail. */
export const unknown: Parser<unknown> = (value) => value;

export function nullable<T>(parser: Parser<T>): Parser<T | null> {
  return (value, path) => (value === null ? null : parser(value, path));
}

/** A field the controller may leave out (or that a newer one adds). */
export function optional<T>(parser: Parser<T>): Parser<T | undefined> {
  return (value, path) => (value === undefined ? undefined : parser(value, path));
}

/** A field older controllers leave out: `fallback` stands in for it, so their answers still parse. */
export function withDefault<T>(parser: Parser<T>, fallback: T): Parser<T> {
  return (value, path) => (value === undefined ? fallback : parser(value, path));
}

export function oneOf<const T extends readonly string[]>(values: T): Parser<T[number]> {
  return (value, path) => {
    if (typeof value !== 'string' || !values.includes(value)) throw new ParseError(path, `one of ${values.join(', ')}`);
    return value as T[number];
  };
}

export function array<T>(item: Parser<T>): Parser<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) throw new ParseError(path, 'a list');
    return value.map((entry, index) => item(entry, `${path}[${index}]`));
  };
}

export function record<T>(item: Parser<T>): Parser<Record<string, T>> {
  return (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ParseError(path, 'an object');
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, item(entry, `${path}.${key}`)]));
  };
}

/** An object with these fields; fields the console does not know are dropped. */
export function object<S extends Record<string, Parser<unknown>>>(shape: S): Parser<{ [K in keyof S]: Parsed<S[K]> }> {
  return (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ParseError(path, 'an object');
    const source = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [key, parser] of Object.entries(shape)) out[key] = parser(source[key], `${path}.${key}`);
    return out as { [K in keyof S]: Parsed<S[K]> };
  };
}
