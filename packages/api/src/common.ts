import { type Static, type TSchema, Type } from '@sinclair/typebox';

/** Object ids are UUIDs (lower-case on output; any case accepted on input). */
export const Uuid = Type.String({ format: 'uuid', description: 'Object id (UUID).' });

/**
 * Names users type and scripts pass on command lines: 1–64 characters, starting with a letter or a
 * digit, then letters, digits, `.`, `_` or `-`. No spaces, so they never need quoting.
 */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
export const Name = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: NAME_PATTERN,
  description: '1–64 characters: letters, digits, ".", "_", "-"; starts with a letter or digit.',
});

export const Description = Type.String({ maxLength: 4096, description: 'Free text, up to 4096 characters.' });

/** RFC 3339 date-time in UTC, e.g. `2026-01-02T03:04:05.678Z`. */
export const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339 date-time (UTC).' });

/** Path parameters of `/{collection}/{id}`. */
export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
export type IdParams = Static<typeof IdParams>;

export const LIST_LIMIT_DEFAULT = 50;
export const LIST_LIMIT_MAX = 500;

/**
 * Query string of a list endpoint. `sortFields` is the allow-list for `sort` (`field` ascending,
 * `-field` descending); `filters` are extra `?<kind>_id=`-style parameters.
 */
export function ListQuery<F extends Record<string, TSchema>>(sortFields: readonly string[], filters: F) {
  return Type.Object(
    {
      limit: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: LIST_LIMIT_MAX,
          default: LIST_LIMIT_DEFAULT,
          description: `Page size, 1–${LIST_LIMIT_MAX}.`,
        }),
      ),
      cursor: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 1024,
          description: 'Opaque cursor from the previous page\u2019s `next_cursor`.',
        }),
      ),
      search: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 256,
          description: 'Case-insensitive substring of the name or the description.',
        }),
      ),
      sort: Type.Optional(
        Type.String({
          description: `Sort field, "-" prefix for descending. One of: ${sortFields.join(', ')}.`,
          // Checked by the engine (not the schema) so a wrong field answers `invalid_sort`.
          examples: [sortFields[0] ?? 'name'],
        }),
      ),
      ...filters,
    },
    { additionalProperties: false },
  );
}

/** The envelope of every list answer. `next_cursor` is null on the last page. */
/** `$id` names it in OpenAPI's components when the engine registers it as a shared schema. */
export function Page<T extends TSchema>(item: T, $id?: string) {
  return Type.Object(
    {
      items: Type.Array(item),
      next_cursor: Type.Union([Type.String(), Type.Null()], {
        description: 'Pass as `cursor` to get the next page; null when this is the last page.',
      }),
    },
    { ...($id ? { $id } : {}), description: 'One page of a list' },
  );
}
