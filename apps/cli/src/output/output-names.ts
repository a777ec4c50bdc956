// File names for downloaded outputs: the server's name, reduced to a plain file name, unique per run.
import path from 'node:path';

export function safeName(name: string | null | undefined, fallback: string): string {
  const base = path
    .basename(String(name ?? '').replace(/\\/g, '/'))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are removed from file names
    .replace(/[\0-\x1f]/g, '')
    .trim();
  return base && base !== '.' && base !== '..' ? base : fallback;
}

/** One name per output; repeats get "-2", "-3" before the extension ("tone.mp3", "tone-2.mp3"). */
export function outputNames(outputs: { id: string; filename: string | null }[]): string[] {
  const taken = new Set<string>();
  return outputs.map((o) => {
    const name = safeName(o.filename, `output-${o.id}`);
    const ext = path.extname(name);
    const stem = name.slice(0, name.length - ext.length);
    let candidate = name;
    for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${stem}-${n}${ext}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  });
}
