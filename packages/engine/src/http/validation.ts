import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const common: Options = {
  // Unknown fields are an error (the schemas say additionalProperties:false), never silently dropped.
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  strict: true,
  // TypeBox adds `Kind`/`Hint` symbols only; `examples` is standard. Allow OpenAPI-only keywords.
  keywords: ['example'],
};

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({ ...common, coerceTypes: coerce ? 'array' : false });
  addFormats(ajv, ['uuid', 'date-time', 'email', 'uri']);
  return ajv;
}

// Query strings, path params and headers arrive as strings and need coercion ("50" → 50); JSON
// bodies must not be coerced, or `"cpus": "4"` would pass as a number.
const coercing = makeAjv(true);
const exact = makeAjv(false);

/** Fastify validator compiler: exact types for bodies, coercion for everything else. */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? exact : coercing;
  return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
};
