/**
 * What the caller believes the object's version is: a number from `If-Match`, or `any` (`If-Match:
 * *`, or a DELETE without If-Match) to act on whatever version is current.
 */
export type ExpectedVersion = number | 'any';
