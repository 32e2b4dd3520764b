// webcrypto.mjs - gives Node 18 the global Web Crypto object that
// libsodium.js's ES module build takes its random bytes from
// (globalThis.crypto.getRandomValues). Node 19 and later have it already;
// Node 18 (Debian 12's nodejs) has it only as require('node:crypto').webcrypto
// inside ES modules. Imported for its effect, before libsodium-wrappers-sumo:
// ES modules run their imports in order, so the global exists when libsodium
// initialises.
import { webcrypto } from 'node:crypto';

if (typeof globalThis.crypto?.getRandomValues !== 'function') {
  Object.defineProperty(globalThis, 'crypto', {
    value: webcrypto, configurable: true, enumerable: false, writable: true,
  });
}
