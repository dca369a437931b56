export * from './residual.js';
export * from './distribution.js';
export * from './bitmap.js';
