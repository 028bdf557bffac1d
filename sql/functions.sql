--
-- functions: import_bytea, import_file and describe
--
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixtures :abs_srcdir '/test/fixtures/'
SELECT zcimport.version() IS NOT NULL AS loaded;

-- describe validates a stream and shows its columns
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'numbers.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'nullable.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'times.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'batches.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'empty.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'trailing_bytes.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'no_end.zci'));
SELECT * FROM zcimport.describe('\x00'::bytea);

-- import_bytea loads into every column of the table, in order
CREATE TABLE fn_numbers (id int8, x float8, flag bool);
SELECT zcimport.import_bytea('fn_numbers', pg_read_binary_file(:'fixtures' || 'numbers.zci'));
SELECT * FROM fn_numbers ORDER BY id;
SELECT zcimport.import_bytea('fn_numbers'::regclass::oid, pg_read_binary_file(:'fixtures' || 'numbers.zci'));
SELECT count(*) FROM fn_numbers;

-- it is atomic and reports errors as COPY does
CREATE TABLE fn_small (v int2);
SELECT zcimport.import_bytea('fn_small', pg_read_binary_file(:'fixtures' || 'small_values.zci'));
SELECT zcimport.import_bytea('fn_small', pg_read_binary_file(:'fixtures' || 'numbers.zci'));
CREATE TABLE fn_pair (a float8, b int8);
SELECT zcimport.import_bytea('fn_pair', pg_read_binary_file(:'fixtures' || 'bad_total.zci'));
SELECT zcimport.import_bytea('fn_pair', pg_read_binary_file(:'fixtures' || 'bad_length.zci'));
SELECT (SELECT count(*) FROM fn_small) AS small, (SELECT count(*) FROM fn_pair) AS pair;
SELECT zcimport.import_bytea('no_such_table', '\x00');

-- in a transaction, and in a subtransaction that is rolled back
BEGIN;
SELECT zcimport.import_bytea('fn_numbers', pg_read_binary_file(:'fixtures' || 'numbers.zci'));
SAVEPOINT s;
SELECT zcimport.import_bytea('fn_numbers', pg_read_binary_file(:'fixtures' || 'numbers.zci'));
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT count(*) FROM fn_numbers;

-- import_file reads a stream file on the server
CREATE TABLE fn_batches (a float8, b int8);
SELECT zcimport.import_file('fn_batches', :'fixtures' || 'batches.zci');
SELECT count(*), sum(a), sum(b) FROM fn_batches;
-- (relative paths are relative to the data directory)
SELECT zcimport.import_file('fn_batches', 'no_such_file.zci');
SELECT zcimport.import_file('fn_batches', '.');
SELECT zcimport.import_file('fn_batches', :'fixtures' || 'truncated_batch.zci');
SELECT count(*) FROM fn_batches;

-- privileges: INSERT for import_bytea, pg_read_server_files for import_file
GRANT USAGE ON SCHEMA public TO regress_zc_user;
SET ROLE regress_zc_user;
SELECT zcimport.import_bytea('fn_batches', '\x00');
RESET ROLE;
GRANT INSERT ON fn_batches TO regress_zc_user;
CREATE TEMP TABLE fn_stream AS
  SELECT pg_read_binary_file(:'fixtures' || 'batches.zci') AS data;
GRANT SELECT ON fn_stream TO regress_zc_user;
SET ROLE regress_zc_user;
SELECT zcimport.import_bytea('fn_batches', data) FROM fn_stream;
SELECT zcimport.import_file('fn_batches', :'fixtures' || 'batches.zci');
RESET ROLE;
-- EXECUTE alone is not enough: the function checks the role too (42501)
GRANT EXECUTE ON FUNCTION zcimport.import_file(regclass, text) TO regress_zc_user;
SET ROLE regress_zc_user;
DO $$
BEGIN
  PERFORM zcimport.import_file('fn_batches', '/nonexistent.zci');
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'SQLSTATE %: %', SQLSTATE, SQLERRM;
END $$;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION zcimport.import_file(regclass, text) FROM regress_zc_user;
GRANT pg_read_server_files TO regress_zc_user;
SET ROLE regress_zc_user;
SELECT zcimport.import_file('fn_batches', :'fixtures' || 'batches.zci');
RESET ROLE;
REVOKE pg_read_server_files FROM regress_zc_user;
SELECT count(*) FROM fn_batches;

-- row-level security is refused here too
CREATE TABLE fn_secured (a float8, b int8);
ALTER TABLE fn_secured ENABLE ROW LEVEL SECURITY;
GRANT INSERT ON fn_secured TO regress_zc_user;
SET ROLE regress_zc_user;
SELECT zcimport.import_bytea('fn_secured', data) FROM fn_stream;
RESET ROLE;

DROP TABLE fn_numbers, fn_small, fn_pair, fn_batches, fn_secured, fn_stream;
REVOKE USAGE ON SCHEMA public FROM regress_zc_user;
