-- Foundations every later migration may rely on.
CREATE EXTENSION IF NOT EXISTS pgcrypto; -- gen_random_uuid() is core since PG 13, digest() is not
