import { KilnError } from '@kiln/contracts';

/** The KilnError a synchronous call throws (anything else is rethrown; no throw fails the test). */
export function thrownKilnError(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof KilnError) return err;
    throw err;
  }
  throw new Error('expected a KilnError');
}
