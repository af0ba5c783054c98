// Regenerates docs/api/openapi.json from the engine's route schemas (`npm run openapi`).
// The test packages/engine/test/http/openapi.test.ts fails when the committed file is stale.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderOpenApiDocument } from '../packages/engine/src/http/openapi-document';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'docs', 'api', 'openapi.json');
const doc = await renderOpenApiDocument();
fs.mkdirSync(path.dirname(target), { recursive: true });
const before = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
fs.writeFileSync(target, doc);
console.log(`${path.relative(root, target)}: ${before === doc ? 'unchanged' : 'written'}`);
