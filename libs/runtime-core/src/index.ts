export * from './core-providers';
