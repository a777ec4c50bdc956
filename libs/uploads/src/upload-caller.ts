/**
 * Who is uploading, as the lib needs it: the owning key (by hash), and for a job token the one job
 * it reaches. The gateway's authenticated principal is one of these as it is.
 */
export type UploadCaller = { kind: string; ownerKeyHash: string } & (
  | { kind: 'job-token'; jobId: string }
  | { kind: Exclude<string, 'job-token'> }
);
