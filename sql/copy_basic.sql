--
-- copy_basic: loading streams with \copy, column lists, defaults, batches
--
-- psql's \copy interpolates no variables: its fixture paths are relative to
-- the source directory, which \cd makes psql's working directory
\getenv abs_srcdir PG_ABS_SRCDIR
\cd :abs_srcdir
SELECT zcimport.version() IS NOT NULL AS loaded;
CREATE TABLE numbers (id int8, x float8, flag bool);
\copy numbers FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
SELECT * FROM numbers ORDER BY id;

-- several batches
CREATE TABLE batches (a float8, b int8);
\copy batches FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
SELECT * FROM batches ORDER BY a;

-- an empty stream loads nothing
\copy batches FROM 'test/fixtures/empty.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM batches;

-- a column list: the stream fills those columns, in stream order; the
-- others get their defaults, volatile ones evaluated per row
CREATE SEQUENCE seq_basic;
CREATE TABLE withdef (
    pk int8 DEFAULT nextval('seq_basic'),
    flag bool,
    tag text DEFAULT 'loaded',
    x float8,
    id int8,
    note text,
    at_load timestamptz DEFAULT now()
);
\copy withdef (id, x, flag) FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
SELECT pk, flag, tag, x, id, note FROM withdef ORDER BY pk;
SELECT count(DISTINCT at_load) AS one_statement_time FROM withdef;

-- a table with a variable-width column takes the general path
CREATE TABLE mixedwidth (id int8, label text DEFAULT 'n/a', x float8, flag bool);
\copy mixedwidth (id, x, flag) FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
SELECT * FROM mixedwidth ORDER BY id;

-- dropped columns are skipped
CREATE TABLE dropped (gone int4, id int8, x float8, flag bool);
ALTER TABLE dropped DROP COLUMN gone;
\copy dropped FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
SELECT * FROM dropped ORDER BY id;

-- a WHERE clause filters rows, as with COPY
CREATE TABLE filtered (a float8, b int8);
\copy filtered FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport) WHERE b % 20 = 0
SELECT * FROM filtered ORDER BY a;

-- indexes are maintained, and a load runs in the caller's transaction
CREATE TABLE indexed (a float8, b int8 PRIMARY KEY);
BEGIN;
\copy indexed FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM indexed WHERE b > 40;
ROLLBACK;
SELECT count(*) FROM indexed;
\copy indexed FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
SET enable_seqscan = off;
SELECT a FROM indexed WHERE b = 70;
RESET enable_seqscan;

-- FREEZE, in the transaction that created the table
BEGIN;
CREATE TABLE frozen (a float8, b int8);
\copy frozen FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport, FREEZE)
COMMIT;
SELECT count(*) FROM frozen;

-- a temporary and an unlogged table, and quoted, schema-qualified names
CREATE TEMP TABLE tmp_numbers (id int8, x float8, flag bool);
\copy tmp_numbers FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
CREATE UNLOGGED TABLE unlogged_numbers (id int8, x float8, flag bool);
\copy unlogged_numbers FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed Case" ("Id" int8, "X" float8, "Flag" bool);
\copy "Odd Schema"."Mixed Case" ("Id", "X", "Flag") FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
SELECT (SELECT count(*) FROM tmp_numbers) AS tmp,
       (SELECT count(*) FROM unlogged_numbers) AS unlogged,
       (SELECT count(*) FROM "Odd Schema"."Mixed Case") AS odd;

DROP SCHEMA "Odd Schema" CASCADE;
DROP TABLE numbers, batches, withdef, mixedwidth, dropped, filtered, indexed,
    frozen, unlogged_numbers;
DROP SEQUENCE seq_basic;
