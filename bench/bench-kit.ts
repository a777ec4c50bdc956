// Shared pieces of the benchmark suite: the Kiln apps as OS processes (own database, Redis prefix,
// bucket), readings from /proc (peak RSS, CPU seconds, bytes read/written), HTTP helpers that stream
// request bodies from disk, a callback receiver, statistics and progress lines. Every figure of the
// suite is a ratio against a baseline measured in the same run (bench/suite.ts).
export * from './bench-http';
export * from './bench-stack';
export * from './callback-receiver';
export * from './payload-files';
export * from './proc-readings';
export * from './run-environment';
export * from './statistics';
export * from './suite-database';
