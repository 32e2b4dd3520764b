// common.mjs - what the JavaScript checkers of the conformance vectors share
// (check_wasm.mjs: the WebAssembly core; check_client.mjs: the JavaScript
// client of tests/e2e/node): reading vectors.json, hex, the identities, and
// running an implementation's check of each section with a report like
// vectors_check's (tests/vectors/check.c). Node builtins only; runs on Node 18.
//
// A checker gives one function per section. Each gets a case (the file's
// object, with helpers) and calls its fail() for every difference; a function
// that throws fails its case. A section the file has and the checker neither
// checks nor names as missing (with the reason) is a failure, so a new layout
// cannot go unchecked; a missing one is reported as skipped.

import { readFileSync } from 'node:fs';

export function fromHex(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || /[^0-9a-f]/.test(hex)) {
    throw new Error(`not lower-case hex: ${String(hex).slice(0, 40)}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function equalBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// The input bytes of a password case as a JavaScript string, or null when
// they are not UTF-8 (a string cannot hold them). ignoreBOM: a leading
// U+FEFF is part of the password.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
export function passwordText(bytes) {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

class Case {
  constructor(obj, section, idents) {
    this.obj = obj;
    this.section = section;
    this.name = obj.name;
    this.idents = idents;
    this.failures = [];
  }

  fail(message) {
    this.failures.push(message);
  }

  has(key) {
    return Object.prototype.hasOwnProperty.call(this.obj, key);
  }

  get(key, obj = this.obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) throw new Error(`no field ${key}`);
    return obj[key];
  }

  str(key, obj) {
    const v = this.get(key, obj);
    if (typeof v !== 'string') throw new Error(`${key} is not a string`);
    return v;
  }

  int(key, obj) {
    const v = this.get(key, obj);
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${key} is not a non-negative integer`);
    return v;
  }

  bool(key, obj) {
    const v = this.get(key, obj);
    if (typeof v !== 'boolean') throw new Error(`${key} is not a boolean`);
    return v;
  }

  hex(key, obj) {
    return fromHex(this.str(key, obj));
  }

  ident(key, obj) {
    const name = this.str(key, obj);
    const who = this.idents.get(name);
    if (!who) throw new Error(`no identity ${name}`);
    return who;
  }

  /** Compares computed bytes with hex field key. */
  expectHex(key, got, obj) {
    const want = this.str(key, obj);
    if (toHex(got) !== want) this.fail(`${key} differs: computed ${toHex(got)}`);
  }

  /** Compares a computed value with field key. */
  expect(key, got, obj) {
    const want = this.get(key, obj);
    if (got !== want) this.fail(`${key} differs: computed ${JSON.stringify(got)}, the file says ${JSON.stringify(want)}`);
  }
}

/** Another section's case by name (for cross-references), or undefined. */
export function caseNamed(file, section, name) {
  return file[section]?.cases?.find((c) => c.name === name);
}

/**
 * Runs the checks. implementation: a name for the report; checks: { section:
 * fn(case, file) } (fn may be async); missing: { section: why } for sections
 * this implementation has no function for. Returns the number of failures;
 * prints one line per section.
 */
export async function runChecks({ implementation, file: path, only, checks, missing = {} }) {
  const file = JSON.parse(readFileSync(path, 'utf8'));
  let failures = 0;
  const idents = new Map();

  for (const c of file.identities?.cases ?? []) {
    idents.set(c.name, {
      name: c.name, id: c.user_id, signPk: fromHex(c.sign_pk), signSk: fromHex(c.sign_sk),
      boxPk: fromHex(c.box_pk), boxSk: fromHex(c.box_sk),
    });
  }
  const sections = Object.keys(file).filter((k) => file[k] !== null && typeof file[k] === 'object');
  for (const name of sections) {
    if (!checks[name] && !missing[name]) {
      console.log(`FAIL ${name}: a section the ${implementation} checker does not know`);
      failures++;
    }
  }
  if (only && !sections.includes(only)) {
    console.log(`FAIL ${only}: no such section in ${path}`);
    failures++;
  }
  for (const name of sections) {
    if (only && name !== only && name !== 'identities') continue;
    if (missing[name]) {
      console.log(`skip ${name}: ${missing[name]}`);
      continue;
    }
    if (!checks[name]) continue;
    const cases = file[name].cases;
    let failed = 0;
    if (!Array.isArray(cases) || cases.length === 0) {
      console.log(`FAIL ${name}: no cases`);
      failures++;
      continue;
    }
    for (const obj of cases) {
      const t = new Case(obj, file[name], idents);
      try {
        await checks[name](t, file);
      } catch (e) {
        t.fail(`threw: ${e.stack ?? e}`);
      }
      for (const f of t.failures) console.log(`FAIL ${name}/${obj.name}: ${f}`);
      if (t.failures.length) failed++;
    }
    failures += failed;
    console.log(failed ? `FAIL ${name}: ${failed} of ${cases.length} cases failed` : `ok ${name}: ${cases.length} cases pass`);
  }
  console.log(`${implementation}: ${failures ? `${failures} failed` : 'every case passes'} (node ${process.version})`);
  return failures;
}
