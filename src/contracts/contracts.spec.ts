import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENTRY = resolve(dirname(fileURLToPath(import.meta.url)), 'index.ts');
/** `import … from` / `export … from` that stay in the emitted JavaScript (not `import type`). */
const RUNTIME_IMPORT = /^\s*(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s+'([^']+)'/gms;

/** Every module the contracts load at run time, following relative imports from the entry. */
function runtimeImports(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(RUNTIME_IMPORT)) {
      if (specifier === undefined) continue;
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else packages.add(specifier);
    }
  }
  return { files: [...files], packages: [...packages] };
}

describe('client contracts', () => {
  it('load no package at run time, so a browser bundle can import them', () => {
    expect(runtimeImports(ENTRY).packages).toEqual([]);
  });
});
