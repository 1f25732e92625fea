/**
 * `npm run docs:asyncapi`: writes docs/asyncapi.json and the generated parts of the OpenAPI
 * document (src/api-docs/generated/) from the code. Development only (see api-docs.generator.ts).
 */
import { relative } from 'node:path';
import { GENERATED_FILES, PROJECT_ROOT, writeApiDocuments } from './api-docs.generator.js';

const changed = await writeApiDocuments();
for (const file of Object.keys(GENERATED_FILES) as (keyof typeof GENERATED_FILES)[]) {
  const state = changed.includes(file) ? 'written' : 'unchanged';
  process.stdout.write(`${relative(PROJECT_ROOT, GENERATED_FILES[file])}: ${state}\n`);
}
