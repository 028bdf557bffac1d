--
-- copy_errors: every error path, and that a failed load leaves no rows
--
-- psql's \copy interpolates no variables: its fixture paths are relative to
-- the source directory, which \cd makes psql's working directory
\getenv abs_srcdir PG_ABS_SRCDIR
\cd :abs_srcdir
SELECT zcimport.version() IS NOT NULL AS loaded;
CREATE TABLE target (a float8, b int8);

-- FORMAT zcimport only loads, and only from the client
COPY target TO STDOUT WITH (FORMAT zcimport);
COPY target FROM '/tmp/no_such.zci' WITH (FORMAT zcimport);
COPY target FROM PROGRAM 'cat' WITH (FORMAT zcimport);

-- options other than FREEZE are refused; repeated options conflict (\copy:
-- psql 15 and psql 16 disagree on the lines after a COPY FROM STDIN that the
-- server refuses before copy mode)
\copy target FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport, DELIMITER ',')
\copy target FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport, HEADER)
\copy target FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport, FREEZE, FREEZE false)
\copy target FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport, FORMAT zcimport)
-- FREEZE needs a table created or truncated in this transaction
\copy target FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport, FREEZE)

-- targets that cannot take rows
CREATE VIEW target_view AS SELECT * FROM target;
\copy target_view FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
CREATE SEQUENCE target_seq;
\copy target_seq FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
\copy no_such_table FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
\copy target (a, no_such_column) FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)

-- the stream's columns must match the column list
\copy target FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
\copy target (a) FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)

-- types that do not convert are reported before any row is inserted
CREATE TABLE wrongtypes (a bool, b int8);
\copy wrongtypes FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
CREATE TABLE wrongtypes2 (a float8, b timestamp);
\copy wrongtypes2 FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
CREATE TABLE wrongtypes3 (ts int8, tstz text);
\copy wrongtypes3 FROM 'test/fixtures/times.zci' WITH (FORMAT zcimport)
CREATE TABLE wrongtypes4 (a text, b int8);
\copy wrongtypes4 FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)

-- narrowing is range-checked; errors name the column and the frame row
CREATE TABLE narrow (v int2);
\copy narrow FROM 'test/fixtures/small_values.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM narrow;
CREATE TABLE narrow_u64 (i8 int2, i16 int2, i32 int4, i64 int8,
    u8 int2, u16 int4, u32 int8, u64 int8);
\copy narrow_u64 FROM 'test/fixtures/ints.zci' WITH (FORMAT zcimport)
CREATE TABLE narrow_u32 (i8 int2, i16 int2, i32 int4, i64 int8,
    u8 int2, u16 int4, u32 int4, u64 numeric);
\copy narrow_u32 FROM 'test/fixtures/ints.zci' WITH (FORMAT zcimport)
CREATE TABLE narrow_float (f32 float4, f64 float4);
\copy narrow_float FROM 'test/fixtures/floats.zci' WITH (FORMAT zcimport)
CREATE TABLE not_whole (v int8);
\copy not_whole FROM 'test/fixtures/float_values.zci' WITH (FORMAT zcimport)
CREATE TABLE nan_int (v int8);
\copy nan_int FROM 'test/fixtures/nan_kept.zci' WITH (FORMAT zcimport)
-- their SQLSTATE is what core's COPY gives the same value as text: 22P02
-- (psql's LAST_ERROR_SQLSTATE is not set by COPY, hence VERBOSITY)
\set VERBOSITY sqlstate
\copy not_whole FROM 'test/fixtures/float_values.zci' WITH (FORMAT zcimport)
COPY not_whole FROM STDIN;
2.5
\.
\copy nan_int FROM 'test/fixtures/nan_kept.zci' WITH (FORMAT zcimport)
COPY nan_int FROM STDIN;
NaN
\.
\set VERBOSITY default
CREATE TABLE overflow_numeric (v numeric(2,0));
\copy overflow_numeric FROM 'test/fixtures/small_values.zci' WITH (FORMAT zcimport)

-- constraints, as COPY checks them: nothing is left behind
CREATE TABLE not_null (v int8 NOT NULL);
\copy not_null FROM 'test/fixtures/with_null.zci' WITH (FORMAT zcimport)
-- NULLs that come from an absent column are checked too
CREATE TABLE absent_not_null (a float8, b int8, c int8 NOT NULL, d text);
\copy absent_not_null (a, b) FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM absent_not_null;
CREATE TABLE checked (v int8 CHECK (v < 100));
\copy checked FROM 'test/fixtures/small_values.zci' WITH (FORMAT zcimport)
CREATE DOMAIN small_positive AS int8 CHECK (VALUE BETWEEN 1 AND 100);
CREATE TABLE domain_checked (v small_positive);
\copy domain_checked FROM 'test/fixtures/small_values.zci' WITH (FORMAT zcimport)
CREATE TABLE unique_b (a float8, b int8 UNIQUE);
\copy unique_b FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
\copy unique_b FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
SELECT (SELECT count(*) FROM not_null) AS not_null,
       (SELECT count(*) FROM checked) AS checked,
       (SELECT count(*) FROM domain_checked) AS domain_checked,
       (SELECT count(*) FROM unique_b) AS unique_b;

-- malformed streams fail the whole load
\copy target FROM 'test/fixtures/bad_magic.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/bad_version.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/big_endian.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/truncated_header.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/truncated_batch.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/no_end.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/trailing_bytes.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/bad_total.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/unknown_type.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/bad_length.zci' WITH (FORMAT zcimport)
\copy target FROM 'test/fixtures/bad_kind.zci' WITH (FORMAT zcimport)
-- a PostgreSQL binary COPY file is not a zcimport stream (scratch files go
-- under results/, which pg_regress makes and the clean-up removes)
COPY (SELECT 1.5::float8, 2::int8) TO STDOUT WITH (FORMAT binary) \g results/zcimport_regress_pgcopy.bin
\copy target FROM 'results/zcimport_regress_pgcopy.bin' WITH (FORMAT zcimport)
SELECT count(*) FROM target;

-- privileges: INSERT on the loaded columns, as COPY FROM checks them
CREATE TABLE private (a float8, b int8);
GRANT USAGE ON SCHEMA public TO regress_zc_user;
SET ROLE regress_zc_user;
SELECT zcimport.version() IS NOT NULL AS callable;
\copy private FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
RESET ROLE;
GRANT INSERT (a) ON private TO regress_zc_user;
SET ROLE regress_zc_user;
\copy private FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
RESET ROLE;
GRANT INSERT ON private TO regress_zc_user;
SET ROLE regress_zc_user;
\copy private FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
RESET ROLE;
SELECT count(*) FROM private;

-- row-level security is refused, as COPY FROM refuses it
CREATE TABLE secured (a float8, b int8);
ALTER TABLE secured ENABLE ROW LEVEL SECURITY;
CREATE POLICY secured_all ON secured USING (true);
GRANT INSERT ON secured TO regress_zc_user;
SET ROLE regress_zc_user;
\copy secured FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
RESET ROLE;

-- read-only transactions
BEGIN READ ONLY;
\copy target FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
ROLLBACK;

SELECT count(*) FROM target;
DROP VIEW target_view;
DROP SEQUENCE target_seq;
DROP TABLE target, wrongtypes, wrongtypes2, wrongtypes3, wrongtypes4, narrow,
    narrow_u64, narrow_u32, narrow_float, not_whole, nan_int,
    overflow_numeric, not_null, absent_not_null, checked, domain_checked, unique_b, private,
    secured;
DROP DOMAIN small_positive;
REVOKE USAGE ON SCHEMA public FROM regress_zc_user;
