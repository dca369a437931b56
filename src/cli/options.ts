/**
 * Option kinds shared by the commands.
 */
import { Option, type Command } from 'commander';

/**
 * A list option: one value per flag, repeatable, each value may hold several items
 * separated by commas (`--exclude a,b --exclude c` gives ['a,b', 'c']; the command splits
 * on commas). Not variadic: a variadic option (`<glob...>`) would also swallow the model
 * path that follows it (`quantize --exclude '/fc*' model.onnx`).
 */
export function listOption(flags: string, description: string): Option {
  return new Option(flags, `${description} (repeat the flag or separate by commas)`).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
}

const apiAliases = new WeakMap<Command, Readonly<Record<string, string>>>();

/**
 * Declares the API option keys of `cmd` whose name differs from the attribute of the flag
 * that sets them (train: the API's `limit` is --train-limit, attribute `trainLimit`).
 */
export function apiOptionAliases(cmd: Command, aliases: Readonly<Record<string, string>>): void {
  apiAliases.set(cmd, { ...apiAliases.get(cmd), ...aliases });
}

/**
 * `message` for a CLI user: each backquoted API option key (`optionName` in src/errors.ts)
 * becomes the flag of `cmd` that sets it (`checkpointDir` → --checkpoint-dir); keys the
 * command has no flag for stay as they are.
 */
export function toCliTerms(message: string, cmd: Command | undefined): string {
  if (cmd === undefined) return message;
  return message.replace(/`([A-Za-z][A-Za-z0-9]*)`/g, (whole, key: string) => {
    const attr = apiAliases.get(cmd)?.[key] ?? key;
    const opt = cmd.options.find((o) => o.attributeName() === attr);
    return opt?.long ?? opt?.short ?? whole;
  });
}
