import { stopAll } from './app.js';

// Root hook: no server outlives the suite, even when a test failed half-way.
export const mochaHooks = { afterAll: stopAll };
