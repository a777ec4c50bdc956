/** The last lines of a tool's stderr with the server path replaced, safe to show in an error. */
export function lastLines(stderr: string, inputPath?: string, outputPath?: string): string {
  let text = stderr;
  if (inputPath) text = text.split(inputPath).join('<input>');
  if (outputPath) text = text.split(outputPath).join('<output>');
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
  return lines.slice(-15).join('\n').slice(-4000);
}
