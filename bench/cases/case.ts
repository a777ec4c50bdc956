import type { SuiteContext } from '../bench-kit';
import type { Row } from '../report';

/** One selectable case of the suite (`npm run bench -- <name>` or `npm run bench:<name>`). */
export interface BenchCase {
  name: string;
  /** One line for `--help` and the progress output. */
  summary: string;
  /** Runs `ctx.runs` rounds and hands each finished row to `emit`. */
  run(ctx: SuiteContext, emit: (row: Row) => void): Promise<void>;
}
