'use strict';
// How a JavaScript context becomes a Vexil one. The one place the Node SDK
// maps JavaScript types; the result is JSON that the native addon decodes
// with Vexil's own context decoder (the same rules as the server and every
// other SDK).
//
//   key (client) / targetingKey (OpenFeature)  the targeting key: a string (absent or
//                                              undefined: ""; anything else is refused)
//   string, boolean                            as they are
//   number (int or float)                      a number (JavaScript has one number type);
//                                              NaN and ±Infinity are refused
//   bigint                                     the nearest number (exact up to 2^53); refused
//                                              beyond a number's range
//   Date                                       epoch milliseconds (what `before`/`after` compare)
//   array of strings                           a list (a clause matches if any element matches)
//   null, undefined                            absent, as if not set
//   nested object, array holding a non-string,
//   function, symbol, invalid Date             refused: INVALID_CONTEXT, naming the attribute
//   no context (undefined or null)             the empty context (no key, no attributes)
//
// In an OpenFeature context an attribute named `key` is refused too: the
// targeting key is `targetingKey` (Vexil never guesses which one is meant).

/** Why a context was refused; evaluation answers `INVALID_CONTEXT`. */
class InvalidContext {
  constructor(message) {
    this.message = message;
  }
}

const invalid = (name, why) => new InvalidContext(`attribute ${JSON.stringify(name)}: ${why}`);

/**
 * The value of attribute `name` as JSON can carry it: `undefined` to leave
 * it out, the value itself, a replacement, or an `InvalidContext`.
 */
function attribute(name, v) {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : invalid(name, `${v} is not a number Vexil can compare`);
    case 'undefined':
      return undefined;
    case 'bigint': {
      // Like an int in any SDK: the nearest float (exact up to 2^53).
      const n = Number(v);
      return Number.isFinite(n) ? n : invalid(name, `the bigint ${v} is beyond a number's range`);
    }
    case 'object':
      if (v === null) return undefined;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          if (typeof v[i] !== 'string') {
            return invalid(name, `a list holds strings only; element ${i} is ${describe(v[i])}`);
          }
        }
        return v;
      }
      if (v instanceof Date) {
        const ms = v.getTime();
        return Number.isNaN(ms) ? invalid(name, 'an invalid Date') : ms;
      }
      return invalid(name, `${describe(v)} is not supported (Vexil does not flatten nested objects)`);
    default:
      return invalid(name, `${typeof v} values are not supported`);
  }
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/**
 * `ctx` as the JSON the addon decodes, or an `InvalidContext`. `keyName` is
 * the property holding the targeting key: `key` for the client,
 * `targetingKey` for OpenFeature.
 */
function encodeContext(ctx, keyName = 'key') {
  try {
    return encode(ctx, keyName);
  } catch (e) {
    // A getter or a Proxy trap that throws: evaluation still must not.
    return new InvalidContext(`reading the context failed: ${e && e.message}`);
  }
}

function encode(ctx, keyName) {
  if (ctx === undefined || ctx === null) return '';
  if (typeof ctx !== 'object' || Array.isArray(ctx)) {
    return new InvalidContext(`a context is an object, not ${describe(ctx)}`);
  }
  // The common case (plain strings, numbers, booleans and lists under
  // `key`) goes to JSON.stringify as it is; otherwise a copy is made.
  let copy = keyName !== 'key' || typeof ctx.toJSON === 'function';
  const names = Object.keys(ctx);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const v = ctx[name];
    if (name === keyName) {
      if (v !== undefined && typeof v !== 'string') {
        return new InvalidContext(`the targeting key ${JSON.stringify(keyName)} must be a string, not ${describe(v)}`);
      }
      continue;
    }
    if (name === 'key') {
      return new InvalidContext(
        `attribute "key": the targeting key is ${JSON.stringify(keyName)}; an attribute named "key" is refused`,
      );
    }
    const a = attribute(name, v);
    if (a instanceof InvalidContext) return a;
    if (a !== v) copy = true;
  }
  if (!copy) return JSON.stringify(ctx);
  const out = {};
  const key = ctx[keyName];
  if (typeof key === 'string') out.key = key;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (name === keyName) continue;
    const a = attribute(name, ctx[name]);
    if (a !== undefined) out[name] = a;
  }
  return JSON.stringify(out);
}

module.exports = { encodeContext, InvalidContext };
