/**
 * The elaborated design as yosys writes it (`write_rtlil` after `hierarchy`), cut into the
 * out-of-context pieces that per-instance synthesis runs (docs/synthesis.md#per-instance-synthesis):
 * each module of the top's instances with the modules below it, in a canonical text, so that
 * the same hardware gives the same text (and the same cache key) whatever else the design holds.
 *
 * After `hierarchy`, every parameter set of a generic module is a module of its own
 * (`$paramod…\name`), and `$readmemh` images are `$meminit` cells of it: a module's text is
 * everything that goes into its synthesis. yosys's automatic names (`$add$file.v:12$345`,
 * `$0\q[7:0]`, and the public names of a function call's variables, `\popcount$func$file.v:12$345.v`)
 * carry a design-wide counter and source lines; `canonicalText` orders the module's wires,
 * memories, cells and processes by their names without the source lines, renumbers those names
 * in that order and drops the `src` attributes, which name things but change no logic. So the
 * text depends on neither what was elaborated before the module (the counter) nor where its
 * source sits in its file (write_rtlil's name order puts `f.v:101` before `f.v:99`).
 */

/** One module of an RTLIL text. */
export interface RtlilModule {
  name: string;
  /** The module's lines, the attribute lines before `module` included, up to its `end`. */
  lines: string[];
  /** `attribute \blackbox 1`: a black box (ports only). */
  blackbox: boolean;
  /** Its cells, in text order: type and instance name. */
  cells: { type: string; name: string }[];
}

/** The modules of an RTLIL text, by name, in text order. */
export function parseRtlil(text: string): Map<string, RtlilModule> {
  const out = new Map<string, RtlilModule>();
  let pending: string[] = [];
  let cur: RtlilModule | undefined;
  for (const line of text.split('\n')) {
    if (cur) {
      cur.lines.push(line);
      if (line === 'end') {
        out.set(cur.name, cur);
        cur = undefined;
      } else if (line.startsWith('  cell ')) {
        const [, type, name] = line.trim().split(/\s+/);
        cur.cells.push({ type: type!, name: name! });
      }
    } else if (line.startsWith('attribute ')) {
      pending.push(line);
    } else if (line.startsWith('module ')) {
      const name = line.slice('module '.length).trim();
      cur = { name, lines: [...pending, line], blackbox: pending.some((l) => /^attribute \\blackbox 1$/.test(l)), cells: [] };
      pending = [];
    } else {
      pending = [];
    }
  }
  return out;
}

/** `module` and the modules below it that the design defines, root first, then in order of first reference. */
export function moduleClosure(modules: ReadonlyMap<string, RtlilModule>, root: string): RtlilModule[] {
  const seen = new Set<string>();
  const order: RtlilModule[] = [];
  const visit = (name: string): void => {
    const m = modules.get(name);
    if (!m || seen.has(name)) return;
    seen.add(name);
    order.push(m);
    for (const c of m.cells) visit(c.type);
  };
  visit(root);
  return order;
}

/** The module name yosys derived from `name` (`$paramod$<hash>\name`, `$paramod\name\P=…`), or `name` itself, without the leading backslash. */
export function baseModuleName(name: string): string {
  const n = name.startsWith('\\') ? name.slice(1) : name;
  if (!n.startsWith('$paramod')) return n;
  const m = /^\$paramod(?:\$[0-9a-f]+)?\\([^\\]+)/.exec(n);
  return m ? m[1]! : n;
}

/** A source location and yosys's counter in a name: `file.v:12$345` (`file.v:12.3-12.9$345` with columns). */
const LOCATED = /[^\s$\\:]+:\d+(?:\.\d+-\d+\.\d+)?\$\d+/;
/** A `$memwr` cell's PRIORITY parameter (yosys's counter when the write port was made). */
const PRIORITY = /^ {4}parameter \\PRIORITY (\d+)$/;
/** A source location in a name (what `sortKey` drops). */
const LOCATION = /[^\s$\\:]+:\d+(?:\.\d+-\d+\.\d+)?(?=\$\d)/g;

/**
 * An automatic (not user-written) name: `$` then anything that makes it more than a cell type
 * (`$add`, `$mem_v2`); or a public name yosys made with a source location and its counter (a
 * function call's result and variables, `\popcount$func$f.v:12$345.v`). `legacy`: the `$` names
 * only (the canonical text of cache keys before 2026-12-07, instances.ts LEGACY_KEY).
 */
const isAutoName = (t: string, legacy = false): boolean => (t.startsWith('$') && /[$\\:.[]/.test(t.slice(1))) || (!legacy && t.startsWith('\\') && LOCATED.test(t));

/** The order of a module's objects: its name without source locations (then yosys's counter orders what was made first). */
const sortKey = (name: string): string => name.replace(LOCATION, '');

/**
 * A module's lines with each run of wires, memories, cells and processes (each with the
 * attribute lines before it, a cell or process up to its `end`) ordered by `sortKey` of its name,
 * instead of write_rtlil's order by the whole name, which has the source line in it. Parameters
 * and connections stay where they are (yosys writes connections in the order they were made).
 */
export function orderByCreation(lines: readonly string[]): string[] {
  const out: string[] = [];
  let run: { kind: string; key: string; lines: string[] }[] = [];
  const flush = (): void => {
    run.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const b of run) out.push(...b.lines);
    run = [];
  };
  let pending: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('  attribute ')) {
      pending.push(line);
      continue;
    }
    const m = /^ {2}(wire|memory|cell|process) /.exec(line);
    if (!m) {
      flush();
      out.push(...pending, line);
      pending = [];
      continue;
    }
    const kind = m[1]!;
    if (run.length && run[0]!.kind !== kind) flush();
    const block = [...pending, line];
    pending = [];
    if (kind === 'cell' || kind === 'process') {
      while (i + 1 < lines.length && lines[i] !== '  end') block.push(lines[++i]!);
    }
    const words = line.trim().split(/\s+/);
    run.push({ kind, key: sortKey(words[words.length - 1]!), lines: block });
  }
  flush();
  out.push(...pending);
  return out;
}

/**
 * The canonical text of `root` and the modules below it: root renamed `rootName`, the other
 * non-black-box modules (`\ooc$m1`, …) and every automatic name (`$n1`, …) renumbered by first
 * appearance, `src` attributes and the `autoidx` line dropped; black boxes keep their names
 * (their cells are what the run counts) and are written as their ports only.
 */
export function canonicalText(modules: ReadonlyMap<string, RtlilModule>, root: string, rootName: string, o: { legacy?: boolean } = {}): string {
  const legacy = o.legacy === true;
  const closure = moduleClosure(modules, root);
  const names = new Map<string, string>([[root, rootName]]);
  let k = 0;
  let km = 0;
  let kw = 0;
  const rename = (t: string): string => {
    if (modules.get(t)?.blackbox) return t;
    let r = names.get(t);
    if (r === undefined) {
      // a module's name stays public: a cell type with a leading $ is one of yosys's internal cells
      // (and a public automatic name stays public)
      r = modules.has(t) ? `\\ooc$m${++km}` : !legacy && t.startsWith('\\') ? `\\ooc$w${++kw}` : `$n${++k}`;
      names.set(t, r);
    }
    return r;
  };
  // a memory write port's PRIORITY is yosys's counter when the port was made: only its order counts
  const priorities = new Map<string, number>();
  if (!legacy) {
    const values = new Set<string>();
    for (const m of closure) for (const line of m.lines) if (PRIORITY.test(line)) values.add(PRIORITY.exec(line)![1]!);
    [...values].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)).forEach((v, i) => priorities.set(v, i + 1));
  }
  const out: string[] = [];
  for (const m of closure) {
    const all = (m.blackbox ? blackboxLines(m) : m.lines).filter((line) => !/^\s*attribute \\src /.test(line));
    for (const line of legacy ? all : orderByCreation(all)) {
      const p = PRIORITY.exec(line);
      if (p && priorities.has(p[1]!)) {
        out.push(line.replace(PRIORITY, (x, v: string) => x.slice(0, x.length - v.length) + String(priorities.get(v))));
        continue;
      }
      out.push(
        line.replace(/"(?:[^"\\]|\\.)*"|\S+/g, (t) => {
          if (!t.startsWith('"')) return modules.has(t) || isAutoName(t, legacy) ? rename(t) : t;
          // a string naming an automatic object (a memory's MEMID) follows its renaming
          const s = t.slice(1, -1).replace(/\\(.)/g, '$1');
          return isAutoName(s, legacy) ? `"${rename(s).replace(/[\\"]/g, '\\$&')}"` : t;
        }),
      );
    }
  }
  return `${out.join('\n')}\n`;
}

/** A module as a black box: its attributes, parameters and ports. */
export function blackboxLines(m: RtlilModule, addAttribute = false): string[] {
  const keep = m.lines.filter((l, i) => i === m.lines.length - 1 || /^(attribute|module) /.test(l) || /^ {2}parameter /.test(l) || /^ {2}wire .*\b(input|output|inout) \d+ /.test(l));
  if (addAttribute && !m.blackbox) keep.unshift('attribute \\blackbox 1');
  return keep;
}

/**
 * The top module with its instances' modules as black boxes (the top's own logic: what the
 * per-instance runs leave out), in canonical form; `stubs` the black boxes' names in that text.
 */
export function glueText(modules: ReadonlyMap<string, RtlilModule>, top: string, o: { legacy?: boolean } = {}): { text: string; stubs: Set<string> } {
  const t = modules.get(top);
  if (!t) throw new Error(`module ${top} is not in the RTLIL text`);
  const sub = new Map<string, RtlilModule>();
  for (const c of t.cells) {
    const m = modules.get(c.type);
    if (m && !sub.has(c.type)) sub.set(c.type, { ...m, lines: blackboxLines(m, true), blackbox: true, cells: [] });
  }
  const text = canonicalText(new Map([[top, t], ...sub]), top, t.name, o);
  return { text, stubs: new Set(sub.keys()) };
}
