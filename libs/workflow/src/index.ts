export * from './job-view';
export * from './job-lifecycle';
export * from './job-decisions';
export * from './url-guard';
export * from './special-addresses';
export * from './callback-signature';
