export * from './special-addresses';
export * from './url-guard';
export * from './targets';
export * from './transfer-clock';
export * from './guarded-request';
export * from './callback-signature';
