// Uploads: the mechanics every upload protocol shares (chunked job uploads, upload sessions, tus),
// over plain values and byte streams. The gateway's controllers read the HTTP request and call these.
export * from './attach-upload';
export * from './body-segments';
export * from './byte-ranges';
export * from './chunk-bytes';
export * from './chunk-store';
export * from './content-range';
export * from './input-claim';
export * from './part-plan';
export * from './segmented-writer';
export * from './upload-caller';
export * from './upload-errors';
export * from './upload-lock';
export * from './tus-concat';
