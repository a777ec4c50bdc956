// S3's size limits the adapter enforces before a request would fail (the part rules shared with the
// port, S3_MIN_PART_SIZE and S3_MAX_PARTS, live in object-store.ts).

export const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Largest object one PUT (and one CopyObject) may write, and largest part / UploadPartCopy piece. */
export const S3_MAX_SINGLE_PUT = 5 * GiB;
/** Largest object a multipart upload may assemble. */
export const S3_MAX_OBJECT_SIZE = 5 * 1024 * GiB;
