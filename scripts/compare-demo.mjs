#!/usr/bin/env node
// Compares two `hbnn-onnx demo -o DIR` output folders: every file must be byte-identical,
// except that in JSON files the measured times and rates (keys `ms`, `...Ms`, `...PerSecond`)
// are left out and each folder's own path reads DIR.
// Usage: node scripts/compare-demo.mjs BEFORE_DIR AFTER_DIR   (exit 1 on any difference)
import * as fs from 'node:fs';
import * as path from 'node:path';

const [a, b] = process.argv.slice(2);
if (!a || !b) {
  console.error('usage: node scripts/compare-demo.mjs BEFORE_DIR AFTER_DIR');
  process.exit(2);
}
const TIME_KEY = /^(ms|[A-Za-z]*Ms|[A-Za-z]*PerSecond)$/;
const files = (dir) => {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out;
};
const untimed = (text, dir) =>
  JSON.stringify(JSON.parse(text), (k, v) => (TIME_KEY.test(k) && typeof v === 'number' ? undefined : typeof v === 'string' ? v.split(path.resolve(dir)).join('DIR') : v), 1);
const fa = files(a);
const fb = files(b);
let bad = 0;
const report = (msg) => {
  bad++;
  console.log(msg);
};
for (const f of new Set([...fa, ...fb])) {
  if (!fa.includes(f) || !fb.includes(f)) {
    report(`${f}: only in ${fa.includes(f) ? a : b}`);
    continue;
  }
  const x = fs.readFileSync(path.join(a, f));
  const y = fs.readFileSync(path.join(b, f));
  if (x.equals(y)) continue;
  if (f.endsWith('.json') && untimed(x.toString('utf8'), a) === untimed(y.toString('utf8'), b)) continue;
  report(`${f}: differs`);
}
console.log(`${fa.length} files compared (JSON without times and rates, paths relative to DIR): ${bad === 0 ? 'identical' : `${bad} difference(s)`}`);
process.exit(bad === 0 ? 0 : 1);
