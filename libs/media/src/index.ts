export * from './media-error';
export * from './media-info';
export * from './command-builder';
export * from './probe';
export * from './image-sniff';
export * from './runner';
