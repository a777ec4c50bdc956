export * from './fixtures';
export * from './fifo-watch';
export * from './crashing-tool';
