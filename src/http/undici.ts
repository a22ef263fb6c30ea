/**
 * undici, loaded on first use. It is CommonJS, so its exports are read from the module's
 * default export: that is module.exports both when Node loads it and in the bundled build
 * (scripts/build.ts), where a lazily loaded CommonJS chunk exports nothing else.
 */
export async function loadUndici(): Promise<typeof import('undici')> {
  return (await import('undici')).default
}
