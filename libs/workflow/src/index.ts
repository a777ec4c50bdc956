export * from './job-view';
export * from './job-lifecycle';
export * from './job-decisions';
export * from './job-cancel';
export * from './input-kinds';
export * from './output-file-urls';
