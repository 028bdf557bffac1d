--
-- copy_types: every wire type into the column types it loads into
--
-- psql's \copy interpolates no variables: its fixture paths are relative to
-- the source directory, which \cd makes psql's working directory
\getenv abs_srcdir PG_ABS_SRCDIR
\cd :abs_srcdir
SELECT zcimport.version() IS NOT NULL AS loaded;
SET extra_float_digits = 0;

-- integers of every width, exactly, into columns of the same width
CREATE TABLE ints_exact (i8 int2, i16 int2, i32 int4, i64 int8,
    u8 int2, u16 int4, u32 int8, u64 numeric);
\copy ints_exact FROM 'test/fixtures/ints.zci' WITH (FORMAT zcimport)
SELECT * FROM ints_exact ORDER BY i64;

-- widened into bigint, double precision and numeric
CREATE TABLE ints_wide (i8 int8, i16 float8, i32 numeric, i64 numeric,
    u8 float4, u16 int8, u32 numeric, u64 float8);
\copy ints_wide FROM 'test/fixtures/ints.zci' WITH (FORMAT zcimport)
SELECT * FROM ints_wide ORDER BY i64;

-- floats, with NaN kept (the fixture was dumped with nan_as_null=False)
CREATE TABLE floats (f32 float4, f64 float8);
\copy floats FROM 'test/fixtures/floats.zci' WITH (FORMAT zcimport)
SELECT f32, f64, f64::text AS f64_text FROM floats;
CREATE TABLE floats_wide (f32 float8, f64 numeric);
\copy floats_wide FROM 'test/fixtures/floats.zci' WITH (FORMAT zcimport)
SELECT f32,
       CASE WHEN f64 > 0 AND f64 < 1e-299 THEN 'exact 1e-300' ELSE f64::text END AS f64
  FROM floats_wide;

-- NaN is NULL by default (numbers.zci was dumped with nan_as_null=True)
CREATE TABLE nan_null (id int8, x float8, flag bool);
\copy nan_null FROM 'test/fixtures/numbers.zci' WITH (FORMAT zcimport)
SELECT id, x, x IS NULL AS x_null FROM nan_null ORDER BY id;

-- whole floats into integer columns
CREATE TABLE float_ints (a int2, b int4);
\copy float_ints FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
SELECT * FROM float_ints ORDER BY a;

-- integers narrowed where they fit
CREATE TABLE narrowed (v int4);
\copy narrowed FROM 'test/fixtures/small_values.zci' WITH (FORMAT zcimport)
SELECT * FROM narrowed ORDER BY v;

-- pandas' nullable arrays send their mask
CREATE TABLE nullable (n int4, b bool, f float8);
\copy nullable FROM 'test/fixtures/nullable.zci' WITH (FORMAT zcimport)
SELECT n, b, f, n IS NULL AS n_null, b IS NULL AS b_null, f IS NULL AS f_null
  FROM nullable ORDER BY f NULLS LAST;

-- numeric(p,s) rounds as COPY does
CREATE TABLE rounded (v numeric(4,0));
\copy rounded FROM 'test/fixtures/float_values.zci' WITH (FORMAT zcimport)
SELECT * FROM rounded ORDER BY v;

-- timestamps: naive into timestamp, tz-aware into timestamptz; NaT is NULL;
-- nanoseconds round to microseconds, ties to even
SET timezone = 'UTC';
CREATE TABLE times (ts timestamp, tstz timestamptz);
\copy times FROM 'test/fixtures/times.zci' WITH (FORMAT zcimport)
SELECT ts, tstz FROM times ORDER BY tstz NULLS LAST;

-- crossing: naive values read in the session's TimeZone, aware values
-- shown in it
SET timezone = 'America/New_York';
CREATE TABLE times_crossed (ts timestamptz, tstz timestamp);
\copy times_crossed FROM 'test/fixtures/times.zci' WITH (FORMAT zcimport)
SELECT ts, tstz FROM times_crossed ORDER BY ts NULLS LAST;
RESET timezone;

-- timestamp(0) rounds to whole seconds
CREATE TABLE times_p0 (ts timestamp(0), tstz timestamptz(0));
\copy times_p0 FROM 'test/fixtures/times.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM times_p0 WHERE ts <> date_trunc('second', ts);

-- domains: constraints are checked per value
CREATE DOMAIN positive_int AS int8 CHECK (VALUE > 0);
CREATE TABLE domained (v positive_int);
\copy domained FROM 'test/fixtures/small_values.zci' WITH (FORMAT zcimport)
SELECT * FROM domained ORDER BY v;

DROP TABLE ints_exact, ints_wide, floats, floats_wide, nan_null, float_ints, narrowed,
    nullable, rounded, times, times_crossed, times_p0, domained;
DROP DOMAIN positive_int;
