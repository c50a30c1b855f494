'use strict';
// The mapping from JavaScript values to a Vexil context (context.js, then
// the core's decoder in the addon), and INVALID_CONTEXT for what Vexil
// cannot take. The shared cases of sdk/conformance/context_conversion.json
// run too, when that file is there.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { decodeContext } = require('@vexil/sdk');
const { inspect } = require('node:util');
const { conformanceDir } = require('./helpers.js');

const empty = { key: '', attributes: {} };

test('JavaScript values map as the README says', () => {
  const cases = [
    [undefined, empty],
    [null, empty],
    [{}, empty],
    [{ key: 'u1' }, { key: 'u1', attributes: {} }],
    [
      { key: 'u1', country: 'NZ', age: 42, score: 0.25, beta: true, groups: ['a', 'b'] },
      { key: 'u1', attributes: { country: 'NZ', age: 42, score: 0.25, beta: true, groups: ['a', 'b'] } },
    ],
    [{ key: 'u', gone: null, unset: undefined, off: false }, { key: 'u', attributes: { off: false } }],
    [{ key: 'u', when: new Date(1700000000123) }, { key: 'u', attributes: { when: 1700000000123 } }],
    [{ key: 'u', big: 12345678901234n }, { key: 'u', attributes: { big: 12345678901234 } }],
    [{ key: 'u', big: 2n ** 64n + 1n }, { key: 'u', attributes: { big: 18446744073709551616 } }],
    [{ key: 'u', neg: -0.5, groups: [] }, { key: 'u', attributes: { neg: -0.5, groups: [] } }],
    [{ key: undefined, plan: 'pro' }, { key: '', attributes: { plan: 'pro' } }],
  ];
  for (const [input, expected] of cases) {
    assert.deepEqual(decodeContext(input), expected, inspect(input));
  }
  // A class instance's own fields count, as for a plain object.
  class User {
    constructor() {
      this.key = 'c1';
      this.plan = 'pro';
    }
  }
  assert.deepEqual(decodeContext(new User()), { key: 'c1', attributes: { plan: 'pro' } });
});

test('what Vexil cannot take is INVALID_CONTEXT, naming the attribute', () => {
  const cases = [
    [{ key: 'u', address: { city: 'x' } }, /"address".*nested/],
    [{ key: 'u', address: {} }, /"address"/],
    [{ key: 'u', groups: ['a', 1] }, /"groups".*element 1/],
    [{ key: 'u', groups: [['a']] }, /"groups"/],
    [{ key: 'u', groups: [null] }, /"groups"/],
    [{ key: 'u', n: NaN }, /"n"/],
    [{ key: 'u', n: Infinity }, /"n"/],
    [{ key: 'u', big: 2n ** 1100n }, /"big".*range/],
    [{ key: null }, /targeting key/],
    [{ key: 'u', when: new Date('nope') }, /"when".*invalid Date/],
    [{ key: 'u', f() {} }, /"f"/],
    [{ key: 'u', s: Symbol('s') }, /"s"/],
    [{ key: 'u', m: new Map() }, /"m"/],
    [{ key: 42 }, /targeting key/],
    [{ key: ['u'] }, /targeting key/],
    ['user-1', /a context is an object/],
    [{ key: 'u', get boom() { throw new Error('no'); } }, /reading the context failed: no/],
    [new Proxy({}, { ownKeys() { throw new Error('trap'); } }), /reading the context failed: trap/],
    [['user-1'], /a context is an object/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => decodeContext(input),
      (e) => e.message.startsWith('INVALID_CONTEXT') && message.test(e.message),
      inspect(input),
    );
  }
});

test('the shared context-conversion cases (sdk/conformance)', (t) => {
  const file = path.join(conformanceDir(), 'context_conversion.json');
  if (!fs.existsSync(file)) {
    t.skip(`${file} is not there`);
    return;
  }
  const suite = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(suite.cases.length > 0);
  for (const c of suite.cases) {
    if (c.expected === 'INVALID_CONTEXT') {
      assert.throws(() => decodeContext(c.context), /^TypeError: INVALID_CONTEXT|INVALID_CONTEXT/, c.name);
    } else {
      assert.deepEqual(decodeContext(c.context), c.expected, c.name);
    }
  }
});
