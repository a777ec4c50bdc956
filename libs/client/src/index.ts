// @kiln/client: a typed client of Kiln's HTTP API, generated from its OpenAPI document.
export * from './client';
export * from './errors';
export type { components, operations, paths } from './schema';
