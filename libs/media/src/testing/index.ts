export * from './fixtures';
export * from './fifo-watch';
