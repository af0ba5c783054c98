export {};
export * from './vm-spec';
