import { KilnError } from '@kiln/contracts';
import { parseUploadConcat } from './tus-concat';
import { segmentSizeFor } from './tus-patch-writer';

const A = '0b4c2b7e-6f1a-4c2d-9e3f-2a1b0c9d8e7f';
const B = '1c5d3c8f-7a2b-4d3e-8f4a-3b2c1d0e9f8a';
const MiB = 1024 * 1024;

describe('parseUploadConcat', () => {
  it('reads partial, and final with absolute urls and paths in order', () => {
    expect(parseUploadConcat(undefined)).toBeUndefined();
    expect(parseUploadConcat(' partial ')).toEqual({ kind: 'partial' });
    expect(parseUploadConcat(`final;https://kiln.example/v1/tus/${A} /v1/tus/${B.toUpperCase()}`)).toEqual({
      kind: 'final',
      ids: [A, B],
    });
  });

  it.each([
    ['whole'],
    ['final;'],
    [`final;/v1/uploads/${A}`],
    ['final;/v1/tus/not-a-uuid'],
    [`final;/v1/tus/${A} /v1/tus/${A}`],
  ])('refuses %p with invalid_input on Upload-Concat', (header) => {
    let caught: unknown;
    try {
      parseUploadConcat(header);
    } catch (err: unknown) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KilnError);
    expect(caught).toMatchObject({ code: 'invalid_input', details: [{ field: 'Upload-Concat' }] });
  });
});

describe('segmentSizeFor (every segment of a PATCH a valid S3 part when possible)', () => {
  it('keeps the maximum for a body that fits it or of unknown length', () => {
    expect(segmentSizeFor(undefined, 8 * MiB)).toBe(8 * MiB);
    expect(segmentSizeFor(5 * MiB, 8 * MiB)).toBe(8 * MiB);
  });

  it('shares a larger body equally when each share stays at least 5 MiB', () => {
    expect(segmentSizeFor(10 * MiB, 8 * MiB)).toBe(5 * MiB);
    expect(segmentSizeFor(13 * MiB, 8 * MiB)).toBe(6.5 * MiB);
    const total = 40 * MiB + 17;
    const size = segmentSizeFor(total, 6 * MiB);
    expect(size).toBeLessThanOrEqual(6 * MiB);
    expect(total - Math.floor(total / size) * size || size).toBeGreaterThanOrEqual(5 * MiB);
  });

  it('falls back to the maximum when equal shares would be under 5 MiB', () => {
    expect(segmentSizeFor(9 * MiB, 8 * MiB)).toBe(8 * MiB);
  });
});
