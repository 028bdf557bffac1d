--
-- indexes: how a load maintains its target's indexes (src/indexes.c)
--
-- A table created or truncated in the transaction has its indexes rebuilt
-- after the load (the index's relfilenode changes); an append inserts
-- btree entries in key order; either way the constraints hold as in COPY.
--
CREATE EXTENSION IF NOT EXISTS amcheck;
-- psql's \copy interpolates no variables: its fixture paths are relative to
-- the source directory, which \cd makes psql's working directory
\getenv abs_srcdir PG_ABS_SRCDIR
\cd :abs_srcdir
\set keyed :abs_srcdir '/test/fixtures/keyed_rows.zci'
SELECT zcimport.version() IS NOT NULL AS loaded;

-- every btree index of a table passes amcheck with heapallindexed
CREATE FUNCTION check_btrees(t regclass) RETURNS TABLE (index text, ok bool)
LANGUAGE sql AS $$
  SELECT c.relname::text, bt_index_check(c.oid, true) IS NOT NULL
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am a ON a.oid = c.relam
  WHERE i.indrelid = t AND a.amname = 'btree' ORDER BY 1
$$;

-- the relfilenodes of a table's indexes, to see whether a load rebuilt them
CREATE TABLE filenodes (index text, before oid);
CREATE FUNCTION remember(VARIADIC t regclass[]) RETURNS void LANGUAGE sql AS $$
  DELETE FROM filenodes;
  INSERT INTO filenodes SELECT c.relname, c.relfilenode FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ANY (t)
$$;
CREATE FUNCTION rebuilt(VARIADIC t regclass[]) RETURNS TABLE (index text, rebuilt bool)
LANGUAGE sql AS $$
  SELECT f.index, c.relfilenode <> f.before FROM filenodes f
    JOIN pg_class c ON c.relname = f.index ORDER BY 1
$$;

-- Created in the transaction: every access method, an expression, a
-- partial and an exclusion index, all rebuilt in one pass after the load
BEGIN;
CREATE TABLE kt (id int8 PRIMARY KEY, grp int4, tag text, span int4range,
                 EXCLUDE USING gist (span WITH &&));
CREATE INDEX kt_grp ON kt (grp);
CREATE INDEX kt_tag_hash ON kt USING hash (tag);
CREATE INDEX kt_grp_gin ON kt USING gin ((ARRAY[grp]));
CREATE INDEX kt_id_brin ON kt USING brin (id);
CREATE INDEX kt_tag_spgist ON kt USING spgist (tag);
CREATE INDEX kt_lower ON kt (lower(tag));
CREATE UNIQUE INDEX kt_tag_partial ON kt (tag) WHERE id < 50;
SELECT remember('kt');
\copy kt FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
SELECT * FROM rebuilt('kt');
SELECT * FROM check_btrees('kt');
SET LOCAL enable_seqscan = off;
SELECT count(*), sum(id) FROM kt WHERE grp = 3;
SELECT count(*) FROM kt WHERE tag = 't07';
SELECT count(*) FROM kt WHERE ARRAY[grp] @> ARRAY[4];
SELECT count(*) FROM kt WHERE id BETWEEN 100 AND 199;
SELECT count(*) FROM kt WHERE tag LIKE 't1%';
SELECT count(*) FROM kt WHERE lower(tag) = 't42';
SELECT id, tag FROM kt WHERE id < 50 AND tag = 't03';
SELECT id FROM kt WHERE span && int4range(10, 13) ORDER BY id;
COMMIT;
SELECT count(*), sum(id), count(DISTINCT span) FROM kt;

-- Truncated in the transaction: a duplicate within the load raises COPY's
-- 23505 when the index is rebuilt, and the truncation is undone with it
\set VERBOSITY default
BEGIN;
TRUNCATE kt;
\copy kt FROM 'test/fixtures/keyed_dup.zci' WITH (FORMAT zcimport)
ROLLBACK;
SELECT count(*) FROM kt;

-- the exclusion constraint, alone, raises 23P01 the same way
CREATE TABLE ex (id int8, grp int4, tag text, span int4range,
                 EXCLUDE USING gist (span WITH &&));
BEGIN;
TRUNCATE ex;
\copy ex FROM 'test/fixtures/keyed_dup.zci' WITH (FORMAT zcimport)
ROLLBACK;
SELECT count(*) FROM ex;
\set VERBOSITY terse

-- A savepoint rolled back after a rebuilding load restores indexes that
-- match the heap it restores; the next load rebuilds them again
BEGIN;
TRUNCATE kt;
INSERT INTO kt VALUES (-1, 0, 'before', '[-1,0)');
SAVEPOINT s;
\copy kt FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
ROLLBACK TO s;
SET LOCAL enable_seqscan = off;
SELECT count(*) FROM kt WHERE id >= -1;
SELECT * FROM check_btrees('kt');
\copy kt FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
COMMIT;
SELECT count(*), min(id), max(id) FROM kt;
SELECT * FROM check_btrees('kt');

-- Truncated in the transaction, but already holding more than 8 MB when
-- the load starts: not rebuilt (n loads must not cost n rebuilds)
CREATE TABLE big (id int8 PRIMARY KEY, grp int4, tag text, span int4range);
BEGIN;
TRUNCATE big;
INSERT INTO big SELECT i, 0, repeat('x', 120), NULL FROM generate_series(10000, 80000) i;
SELECT pg_relation_size('big') > 8 * 1024 * 1024 AS over_8mb;
SELECT remember('big');
\copy big FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
SELECT * FROM rebuilt('big');
COMMIT;
SELECT count(*) FROM big;
SELECT * FROM check_btrees('big');

-- A partitioned table: rows routed to a partition go to that partition's
-- indexes, rebuilt when the partition was truncated in the transaction
CREATE TABLE pk (id int8 PRIMARY KEY, grp int4, tag text, span int4range)
  PARTITION BY RANGE (id);
CREATE TABLE pk_lo PARTITION OF pk FOR VALUES FROM (MINVALUE) TO (1500);
CREATE TABLE pk_hi PARTITION OF pk FOR VALUES FROM (1500) TO (MAXVALUE);
CREATE INDEX pk_grp ON pk (grp);
CREATE INDEX pk_tag_hash ON pk USING hash (tag);
INSERT INTO pk VALUES (5000, 1, 'old', NULL);
BEGIN;
TRUNCATE pk;
SELECT remember('pk_lo', 'pk_hi');
\copy pk FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
SELECT * FROM rebuilt('pk');
COMMIT;
SELECT tableoid::regclass AS partition, count(*), min(id), max(id) FROM pk GROUP BY 1 ORDER BY 1;
SELECT * FROM check_btrees('pk_lo') UNION ALL SELECT * FROM check_btrees('pk_hi');
SET enable_seqscan = off;
SELECT count(*) FROM pk WHERE grp = 5;
SELECT count(*) FROM pk WHERE tag = 't33';
RESET enable_seqscan;
-- appended: key order per partition, and the duplicates found
\set VERBOSITY default
\copy pk FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
\set VERBOSITY terse
SELECT count(*) FROM pk;

-- Appends to a table that holds rows: nothing is rebuilt, the btree
-- entries go in key order and the unique checks see the existing rows
CREATE TABLE ap (id int8 PRIMARY KEY, grp int4, tag text, span int4range);
CREATE INDEX ap_grp_tag ON ap (grp, tag);
CREATE INDEX ap_lower ON ap (lower(tag)) WHERE grp > 2;
CREATE INDEX ap_tag_hash ON ap USING hash (tag);
CREATE INDEX ap_grp_desc ON ap (grp DESC NULLS FIRST);
CREATE INDEX ap_tag_c ON ap (tag COLLATE "C" DESC);
INSERT INTO ap SELECT i, i % 7, 'old', int4range(i, i + 1)
  FROM generate_series(3000, 3999) i;
SELECT remember('ap');
\copy ap FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
SELECT * FROM rebuilt('ap');
SELECT * FROM check_btrees('ap');
SET enable_seqscan = off;
SELECT count(*) FROM ap WHERE grp = 2 AND tag = 't02';
SELECT count(*) FROM ap WHERE lower(tag) = 't10' AND grp > 2;
SELECT count(*) FROM ap WHERE tag = 'old';
SELECT grp, count(*) FROM ap WHERE grp < 3 GROUP BY grp ORDER BY grp DESC NULLS FIRST;
SELECT tag FROM ap WHERE tag COLLATE "C" > 't47' ORDER BY tag COLLATE "C" DESC LIMIT 3;
SELECT count(*), sum(id) FROM ap WHERE id BETWEEN 2990 AND 3009;
RESET enable_seqscan;
-- the same rows again: every id exists; the error names the row
\set VERBOSITY default
\copy ap FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
\set VERBOSITY terse
SELECT count(*) FROM ap;

-- A deferrable unique constraint keeps COPY's timing: the load takes the
-- duplicate, the commit refuses it
CREATE TABLE df (id int8 UNIQUE DEFERRABLE INITIALLY DEFERRED, grp int4,
                 tag text, span int4range);
BEGIN;
TRUNCATE df;
SELECT remember('df');
\copy df FROM 'test/fixtures/keyed_dup.zci' WITH (FORMAT zcimport)
SELECT * FROM rebuilt('df');
COMMIT;
SELECT count(*) FROM df;

-- A BEFORE ROW trigger runs per row and could read the table through an
-- index: entries are made row by row, nothing is rebuilt
CREATE FUNCTION upper_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.tag := upper(NEW.tag); RETURN NEW; END $$;
CREATE TABLE tr (id int8 PRIMARY KEY, grp int4, tag text, span int4range);
CREATE TRIGGER tr_upper BEFORE INSERT ON tr FOR EACH ROW EXECUTE FUNCTION upper_tag();
BEGIN;
TRUNCATE tr;
SELECT remember('tr');
\copy tr FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
SELECT * FROM rebuilt('tr');
COMMIT;
SELECT count(*), count(*) FILTER (WHERE tag LIKE 'T%') FROM tr;
SELECT * FROM check_btrees('tr');

-- zcimport.defer_indexes = off: row by row, as COPY
SET zcimport.defer_indexes = off;
BEGIN;
TRUNCATE kt;
SELECT remember('kt');
\copy kt FROM 'test/fixtures/keyed_rows.zci' WITH (FORMAT zcimport)
SELECT * FROM rebuilt('kt');
COMMIT;
RESET zcimport.defer_indexes;
SELECT count(*) FROM kt;
SELECT * FROM check_btrees('kt');

-- the SQL functions take the same paths
BEGIN;
TRUNCATE kt;
SELECT zcimport.import_bytea('kt', pg_read_binary_file(:'keyed'));
SELECT * FROM check_btrees('kt');
COMMIT;

DROP TABLE kt, ex, big, pk, ap, df, tr, filenodes;
DROP FUNCTION check_btrees(regclass), remember(regclass[]), rebuilt(regclass[]), upper_tag();
