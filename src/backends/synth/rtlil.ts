/**
 * The elaborated design as yosys writes it (`write_rtlil` after `hierarchy`), cut into the
 * out-of-context pieces that per-instance synthesis runs (docs/synthesis.md#per-instance-synthesis):
 * each module of the top's instances with the modules below it, in a canonical text, so that
 * the same hardware gives the same text (and the same cache key) whatever else the design holds.
 *
 * After `hierarchy`, every parameter set of a generic module is a module of its own
 * (`$paramod…\name`), and `$readmemh` images are `$meminit` cells of it: a module's text is
 * everything that goes into its synthesis. yosys's automatic names (`$add$file.v:12$345`,
 * `$0\q[7:0]`) carry a design-wide counter and source lines; `canonicalText` renumbers them in
 * order of appearance and drops the `src` attributes, which name things but change no logic.
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

/** An automatic (not user-written) name: `$` then anything that makes it more than a cell type (`$add`, `$mem_v2`). */
const isAutoName = (t: string): boolean => t.startsWith('$') && /[$\\:.[]/.test(t.slice(1));

/**
 * The canonical text of `root` and the modules below it: root renamed `rootName`, the other
 * non-black-box modules (`\ooc$m1`, …) and every automatic name (`$n1`, …) renumbered by first
 * appearance, `src` attributes and the `autoidx` line dropped; black boxes keep their names
 * (their cells are what the run counts) and are written as their ports only.
 */
export function canonicalText(modules: ReadonlyMap<string, RtlilModule>, root: string, rootName: string): string {
  const closure = moduleClosure(modules, root);
  const names = new Map<string, string>([[root, rootName]]);
  let k = 0;
  let km = 0;
  const rename = (t: string): string => {
    if (modules.get(t)?.blackbox) return t;
    let r = names.get(t);
    if (r === undefined) {
      // a module's name stays public: a cell type with a leading $ is one of yosys's internal cells
      r = modules.has(t) ? `\\ooc$m${++km}` : `$n${++k}`;
      names.set(t, r);
    }
    return r;
  };
  const out: string[] = [];
  for (const m of closure) {
    const lines = m.blackbox ? blackboxLines(m) : m.lines;
    for (const line of lines) {
      if (/^\s*attribute \\src /.test(line)) continue;
      out.push(
        line.replace(/"(?:[^"\\]|\\.)*"|\S+/g, (t) => {
          if (!t.startsWith('"')) return modules.has(t) || isAutoName(t) ? rename(t) : t;
          // a string naming an automatic object (a memory's MEMID) follows its renaming
          const s = t.slice(1, -1).replace(/\\(.)/g, '$1');
          return isAutoName(s) ? `"${rename(s).replace(/[\\"]/g, '\\$&')}"` : t;
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
export function glueText(modules: ReadonlyMap<string, RtlilModule>, top: string): { text: string; stubs: Set<string> } {
  const t = modules.get(top);
  if (!t) throw new Error(`module ${top} is not in the RTLIL text`);
  const sub = new Map<string, RtlilModule>();
  for (const c of t.cells) {
    const m = modules.get(c.type);
    if (m && !sub.has(c.type)) sub.set(c.type, { ...m, lines: blackboxLines(m, true), blackbox: true, cells: [] });
  }
  const text = canonicalText(new Map([[top, t], ...sub]), top, t.name);
  return { text, stubs: new Set(sub.keys()) };
}
