/**
 * Text pipelines: parse and print.
 *
 * Grammar:
 *   pipeline := item (',' item)*
 *   item     := NAME options? | 'fixpoint' options? '(' pipeline ')'
 *   options  := '{' KEY '=' VALUE (',' KEY '=' VALUE)* '}'
 * VALUE is bare text without `,{}()` and spaces, or a double-quoted string. List values
 * separate items with `|` (e.g. `exclude=conv1|fc3`). The only fixpoint option is `max`
 * (default 8): the group repeats until no pass changes the model or `max` rounds ran.
 *
 * Example: `fold-constants,fixpoint{max=4}(eliminate-identity,eliminate-dead-code)`
 */
import { fail, ErrorCodes } from '../errors.js';

export type PipelineItem =
  | { kind: 'pass'; name: string; options: Record<string, string> }
  | { kind: 'fixpoint'; max: number; items: PipelineItem[] };

export function parsePipeline(text: string): PipelineItem[] {
  const p = new Parser(text);
  p.skipWs();
  if (p.eof()) return [];
  const items = p.pipeline();
  p.skipWs();
  if (!p.eof()) p.error(`unexpected "${text[p.pos]}"`);
  return items;
}

export function printPipeline(items: readonly PipelineItem[]): string {
  return items
    .map((it) => {
      if (it.kind === 'fixpoint') return `fixpoint{max=${it.max}}(${printPipeline(it.items)})`;
      const opts = Object.entries(it.options);
      if (opts.length === 0) return it.name;
      return `${it.name}{${opts.map(([k, v]) => `${k}=${/^[^\s,{}()"]+$/.test(v) ? v : JSON.stringify(v)}`).join(',')}}`;
    })
    .join(',');
}

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  eof(): boolean {
    return this.pos >= this.text.length;
  }

  skipWs(): void {
    while (!this.eof() && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  error(msg: string): never {
    const caret = ' '.repeat(this.pos) + '^';
    return fail(ErrorCodes.PIPELINE_PARSE, `cannot parse pipeline at column ${this.pos + 1}: ${msg}\n  ${this.text}\n  ${caret}`);
  }

  expect(ch: string): void {
    this.skipWs();
    if (this.text[this.pos] !== ch) this.error(`expected "${ch}"`);
    this.pos++;
  }

  name(): string {
    this.skipWs();
    const m = /^[A-Za-z][A-Za-z0-9_-]*/.exec(this.text.slice(this.pos));
    if (!m) this.error('expected a pass name');
    this.pos += m[0].length;
    return m[0];
  }

  value(): string {
    this.skipWs();
    if (this.text[this.pos] === '"') {
      let out = '';
      this.pos++;
      while (!this.eof() && this.text[this.pos] !== '"') {
        if (this.text[this.pos] === '\\') this.pos++;
        out += this.text[this.pos++] ?? '';
      }
      if (this.eof()) this.error('unterminated string');
      this.pos++;
      return out;
    }
    const m = /^[^\s,{}()"]+/.exec(this.text.slice(this.pos));
    if (!m) this.error('expected an option value');
    this.pos += m[0].length;
    return m[0];
  }

  options(): Record<string, string> {
    const out: Record<string, string> = {};
    this.skipWs();
    if (this.text[this.pos] !== '{') return out;
    this.pos++;
    this.skipWs();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      const key = this.name();
      this.expect('=');
      if (key in out) this.error(`option "${key}" given twice`);
      out[key] = this.value();
      this.skipWs();
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      this.expect('}');
      return out;
    }
  }

  pipeline(): PipelineItem[] {
    const items: PipelineItem[] = [this.item()];
    for (;;) {
      this.skipWs();
      if (this.text[this.pos] !== ',') return items;
      this.pos++;
      items.push(this.item());
    }
  }

  item(): PipelineItem {
    const name = this.name();
    const options = this.options();
    if (name === 'fixpoint') {
      for (const k of Object.keys(options)) if (k !== 'max') this.error(`fixpoint has no option "${k}" (only max)`);
      const max = options.max === undefined ? 8 : Number(options.max);
      if (!Number.isInteger(max) || max < 1 || max > 1000) this.error(`fixpoint max must be an integer in [1, 1000]`);
      this.expect('(');
      const items = this.pipeline();
      this.expect(')');
      return { kind: 'fixpoint', max, items };
    }
    return { kind: 'pass', name, options };
  }
}
