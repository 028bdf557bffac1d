--
-- trust: loads that crashed the server or put rows where COPY would not,
-- and the checks that keep a role from reaching what it must not
--
-- psql's \copy interpolates no variables: its fixture paths are relative to
-- the source directory, which \cd makes psql's working directory
\getenv abs_srcdir PG_ABS_SRCDIR
\cd :abs_srcdir
\set fixtures :abs_srcdir '/test/fixtures/'
SELECT zcimport.version() IS NOT NULL AS loaded;

-- A primary key, rows wide enough to flush the multi-insert buffer by bytes,
-- and a NULL in the first 1,024-row chunk only: the chunk with the NULL goes
-- row by row, the next ones in bulk.  This crashed the backend once.
CREATE TABLE pk_t (id bigint PRIMARY KEY, note text);
\copy pk_t FROM 'test/fixtures/pk_notes.zci' WITH (FORMAT zcimport)
SELECT count(*), count(note), sum(id), min(note), max(note) FROM pk_t;
-- any role can do the same with its own TEMP table
CREATE TEMP TABLE trust_stream AS
  SELECT pg_read_binary_file(:'fixtures' || 'pk_notes.zci') AS data;
GRANT SELECT ON trust_stream TO regress_zc_user;
SET ROLE regress_zc_user;
CREATE TEMP TABLE my_pk (id bigint PRIMARY KEY, note text NOT NULL DEFAULT '');
SELECT zcimport.import_bytea('my_pk', data) FROM trust_stream;
SELECT count(*) FROM my_pk;
ALTER TABLE my_pk ALTER note DROP NOT NULL;
SELECT zcimport.import_bytea('my_pk', data) FROM trust_stream;
SELECT count(*), count(note) FROM my_pk;
DROP TABLE my_pk;
RESET ROLE;

-- A partition loaded directly checks its bound, as COPY and INSERT do
CREATE TABLE pt (k int4, v text) PARTITION BY RANGE (k);
CREATE TABLE pt_lo PARTITION OF pt FOR VALUES FROM (0) TO (100);
CREATE TABLE pt_hi PARTITION OF pt FOR VALUES FROM (100) TO (200);
\copy pt_lo FROM 'test/fixtures/partition_rows.zci' WITH (FORMAT zcimport)
SELECT zcimport.import_bytea('pt_lo', pg_read_binary_file(:'fixtures' || 'partition_rows.zci'));
SELECT count(*) FROM pt;
-- through the parent, each row goes to its partition
\copy pt FROM 'test/fixtures/partition_rows.zci' WITH (FORMAT zcimport)
SELECT tableoid::regclass AS partition, k, v FROM pt ORDER BY k;
-- a DEFAULT partition takes only values no other partition has
CREATE TABLE pl (k int4, v text) PARTITION BY LIST (k);
CREATE TABLE pl_150 PARTITION OF pl FOR VALUES IN (150);
CREATE TABLE pl_other PARTITION OF pl DEFAULT;
\copy pl_other FROM 'test/fixtures/partition_rows.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM pl;
-- a sub-partitioned partition checks its own bound before routing
CREATE TABLE pn (k int4, v text) PARTITION BY RANGE (k);
CREATE TABLE pn_lo PARTITION OF pn FOR VALUES FROM (0) TO (100) PARTITION BY LIST (v);
CREATE TABLE pn_lo_all PARTITION OF pn_lo DEFAULT;
\copy pn_lo FROM 'test/fixtures/partition_rows.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM pn;

-- A table listed in pg_dist_partition is a Citus table: its load is routed to
-- the shards (test/python/test_citus.py runs real Citus).  Without the citus
-- extension, as here, that catalog is a stray and the load is refused.
SET allow_system_table_mods = on;
CREATE TABLE pg_catalog.pg_dist_partition (logicalrelid regclass NOT NULL, partmethod "char");
RESET allow_system_table_mods;
CREATE TABLE dist_t (k int4, v text);
INSERT INTO pg_catalog.pg_dist_partition VALUES ('dist_t', 'h');
\copy dist_t FROM 'test/fixtures/partition_rows.zci' WITH (FORMAT zcimport)
SELECT zcimport.import_bytea('dist_t', pg_read_binary_file(:'fixtures' || 'partition_rows.zci'));
SELECT zcimport.import_file('dist_t', :'fixtures' || 'partition_rows.zci');
SELECT count(*) FROM dist_t;
-- other tables still load
CREATE TABLE local_t (k int4, v text);
\copy local_t FROM 'test/fixtures/partition_rows.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM local_t;
SET allow_system_table_mods = on;
DROP TABLE pg_catalog.pg_dist_partition;
RESET allow_system_table_mods;
\copy dist_t FROM 'test/fixtures/partition_rows.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM dist_t;

-- A table named by OID still needs USAGE on its schema (42501), as COPY,
-- INSERT and the call by name do
CREATE SCHEMA trust_private;
CREATE TABLE trust_private.t (k int4, v text);
GRANT INSERT ON trust_private.t TO regress_zc_user;
CREATE TEMP TABLE trust_rows AS
  SELECT pg_read_binary_file(:'fixtures' || 'partition_rows.zci') AS data;
GRANT SELECT ON trust_rows TO regress_zc_user;
SELECT 'trust_private.t'::regclass::oid AS private_oid \gset
SET ROLE regress_zc_user;
SELECT zcimport.import_bytea(:private_oid, data) FROM trust_rows;
SELECT zcimport.import_bytea('trust_private.t', data) FROM trust_rows;
INSERT INTO trust_private.t VALUES (1, 'one');
RESET ROLE;
GRANT USAGE ON SCHEMA trust_private TO regress_zc_user;
SET ROLE regress_zc_user;
SELECT zcimport.import_bytea(:private_oid, data) FROM trust_rows;
RESET ROLE;
SELECT count(*) FROM trust_private.t;
DROP SCHEMA trust_private CASCADE;

-- Stream bytes never reach a message or describe() raw: names must be UTF-8,
-- and their control characters are shown escaped
SELECT name, wire_type FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'odd_names.zci'));
CREATE TABLE odd (d date);
\copy odd FROM 'test/fixtures/odd_names.zci' WITH (FORMAT zcimport)
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'bad_name.zci'));
-- a null column's rows are all NULL
SELECT column_no, name, wire_type, rows, nulls FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'nothing.zci'));

-- CREATE EXTENSION refuses a schema "zcimport" that another role owns, that
-- another role may create objects in, or that already holds objects
-- (without the errors' CONTEXT, which names the install script's DO block
-- from PostgreSQL 18 on)
\set SHOW_CONTEXT never
DROP EXTENSION zcimport;
DROP SCHEMA zcimport;
SELECT current_database() AS db \gset
GRANT CREATE ON DATABASE :"db" TO regress_zc_user;
SET ROLE regress_zc_user;
CREATE SCHEMA zcimport;
CREATE FUNCTION zcimport.import_bytea(text, bytea) RETURNS bigint
  LANGUAGE sql AS 'SELECT 0::bigint';
RESET ROLE;
CREATE EXTENSION zcimport;
DROP SCHEMA zcimport CASCADE;
CREATE SCHEMA zcimport;
GRANT CREATE ON SCHEMA zcimport TO regress_zc_user;
CREATE EXTENSION zcimport;
REVOKE CREATE ON SCHEMA zcimport FROM regress_zc_user;
CREATE TABLE zcimport.leftover (i int);
CREATE EXTENSION zcimport;
DROP TABLE zcimport.leftover;
\set SHOW_CONTEXT errors
CREATE EXTENSION zcimport;
REVOKE CREATE ON DATABASE :"db" FROM regress_zc_user;
SELECT zcimport.version() IS NOT NULL AS loaded;
