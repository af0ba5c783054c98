export * from './auth';
export * from './clusters';
export * from './common';
export * from './datacenters';
export * from './errors';
export * from './health';
export * from './events';
export * from './operations';
