import type { FastifyReply, FastifyRequest } from 'fastify';
import { PreconditionFailed, PreconditionRequired } from '../errors';
import type { ExpectedVersion } from '../services';

/** The ETag of an object at `version`: a strong validator, e.g. `"7"`. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

export function setEtag(reply: FastifyReply, version: number): void {
  reply.header('etag', etagOf(version));
}

/**
 * Reads `If-Match` into the version the client expects. `*` means any current version. Weak
 * validators never match (RFC 9110 uses strong comparison for If-Match).
 *
 * @param required PATCH needs it (428 `precondition_required` when missing); DELETE does not.
 */
export function expectedVersion(request: FastifyRequest, required: boolean): ExpectedVersion {
  const header = request.headers['if-match'];
  if (header === undefined || header.trim() === '') {
    if (!required) return 'any';
    throw new PreconditionRequired(
      'precondition_required',
      'send the ETag from GET as the If-Match header to update this object',
      { details: { header: 'If-Match' } },
    );
  }
  const values = header.split(',').map((v) => v.trim());
  if (values.includes('*')) return 'any';
  const versions = values.map((v) => /^"(\d{1,9})"$/.exec(v)?.[1]).filter((v) => v !== undefined);
  // Only one version can be current; several candidates are legal HTTP but useless for us.
  if (versions.length !== 1) {
    throw new PreconditionFailed('etag_mismatch', 'If-Match does not name the current ETag of this object', {
      details: { if_match: header.slice(0, 200) },
    });
  }
  return Number(versions[0]);
}
