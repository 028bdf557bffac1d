--
-- arrow_types: the wire types Arrow needs (bitbool, utf8_32, binary_32,
-- date64, time32, time64, decimal128, decimal256), based offsets and
-- unsigned dictionary codes; streams from test/fixtures/make_fixtures.py
--
-- psql's \copy interpolates no variables: its fixture paths are relative to
-- the source directory, which \cd makes psql's working directory
\getenv abs_srcdir PG_ABS_SRCDIR
\cd :abs_srcdir
\set fixtures :abs_srcdir '/test/fixtures/'
SELECT zcimport.version() IS NOT NULL AS loaded;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET extra_float_digits = 0;

-- bitbool: one bit per row, LSB first; bitmap and byte mask NULLs; batches
-- of 17 and 3 rows
CREATE TABLE a_bool (b bool, "all" bool, m bool);
\copy a_bool FROM 'test/fixtures/arrow_bitbool.zci' WITH (FORMAT zcimport)
SELECT count(*), count(b), count(*) FILTER (WHERE b), count(*) FILTER (WHERE "all"),
       bool_and(b IS NOT DISTINCT FROM m) AS same FROM a_bool;
SELECT string_agg(coalesce(b::text, 'null'), ',') FROM a_bool;
-- only boolean takes a bitbool
CREATE TABLE a_bool_int (b int4, "all" bool, m bool);
\copy a_bool_int FROM 'test/fixtures/arrow_bitbool.zci' WITH (FORMAT zcimport)

-- utf8_32 (based offsets), binary_32, and based utf8/binary with 64-bit offsets
CREATE TABLE a_str (s32 text, b32 bytea, s64 varchar(10), b64 bytea);
\copy a_str FROM 'test/fixtures/arrow_strings32.zci' WITH (FORMAT zcimport)
SELECT * FROM a_str;
-- typmods apply as for utf8: too long for char(6)
CREATE TABLE a_str2 (s32 char(6), b32 bytea, s64 text, b64 bytea);
\copy a_str2 FROM 'test/fixtures/arrow_strings32.zci' WITH (FORMAT zcimport)
-- through an input function (jsonb), as utf8 goes: "a" is not JSON
CREATE TABLE a_str5 (s32 text, b32 bytea, s64 jsonb, b64 bytea);
\copy a_str5 FROM 'test/fixtures/arrow_strings32.zci' WITH (FORMAT zcimport)
CREATE TABLE a_str3 (s32 char(20), b32 bytea, s64 text, b64 bytea);
\copy a_str3 FROM 'test/fixtures/arrow_strings32.zci' WITH (FORMAT zcimport)
SELECT '[' || s32 || ']' AS s32 FROM a_str3;
-- binary_32 loads only into bytea
CREATE TABLE a_str4 (s32 text, b32 text, s64 text, b64 bytea);
\copy a_str4 FROM 'test/fixtures/arrow_strings32.zci' WITH (FORMAT zcimport)

-- date64: milliseconds; date takes the day (floor), timestamps the instant
CREATE TABLE a_d64 (d date);
\copy a_d64 FROM 'test/fixtures/arrow_date64.zci' WITH (FORMAT zcimport)
CREATE TABLE a_d64ts (d timestamp(3));
\copy a_d64ts FROM 'test/fixtures/arrow_date64.zci' WITH (FORMAT zcimport)
CREATE TABLE a_d64tz (d timestamptz);
\copy a_d64tz FROM 'test/fixtures/arrow_date64.zci' WITH (FORMAT zcimport)
SELECT a.d AS date, b.d AS ts, c.d AS tstz
  FROM (SELECT d, row_number() OVER () AS n FROM a_d64) a
  JOIN (SELECT d, row_number() OVER () AS n FROM a_d64ts) b USING (n)
  JOIN (SELECT d, row_number() OVER () AS n FROM a_d64tz) c USING (n)
 ORDER BY n;
-- timestamptz reads the instant in the session's TimeZone, as date32 does
SET TimeZone = 'America/New_York';
TRUNCATE a_d64tz;
\copy a_d64tz FROM 'test/fixtures/arrow_date64.zci' WITH (FORMAT zcimport)
SELECT d FROM a_d64tz LIMIT 2;
SET TimeZone = 'UTC';
CREATE TABLE a_d64_int (d int8);
\copy a_d64_int FROM 'test/fixtures/arrow_date64.zci' WITH (FORMAT zcimport)

-- time32 (s, ms) and time64 (us, ns: rounded to us, ties to even)
CREATE TABLE a_time (t32s time, t32ms time, t64us time, t64ns time);
\copy a_time FROM 'test/fixtures/arrow_times.zci' WITH (FORMAT zcimport)
SELECT * FROM a_time;
CREATE TABLE a_timetz (t32s timetz, t32ms timetz(1), t64us timetz, t64ns time(0));
\copy a_timetz FROM 'test/fixtures/arrow_times.zci' WITH (FORMAT zcimport)
SELECT * FROM a_timetz;
CREATE TABLE a_time_text (t32s text, t32ms time, t64us time, t64ns time);
\copy a_time_text FROM 'test/fixtures/arrow_times.zci' WITH (FORMAT zcimport)
-- outside [00:00, 24:00]: 22008, naming the column and the row
CREATE TABLE a_time1 (t time);
\copy a_time1 FROM 'test/fixtures/arrow_time_range.zci' WITH (FORMAT zcimport)
\copy a_time1 FROM 'test/fixtures/arrow_time_negative.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM a_time1;

-- decimals: exact into numeric, display scale max(scale, 0)
CREATE TABLE a_dec (d128 numeric, neg numeric, small numeric, d256 numeric);
\copy a_dec FROM 'test/fixtures/arrow_decimals.zci' WITH (FORMAT zcimport)
SELECT * FROM a_dec;
-- into text, as numeric prints them
CREATE TABLE a_dec_text (d128 text, neg varchar(20), small text, d256 text);
\copy a_dec_text FROM 'test/fixtures/arrow_decimals.zci' WITH (FORMAT zcimport)
SELECT d128, neg, small, length(d256) FROM a_dec_text;
-- into floats: the nearest
CREATE TABLE a_dec_float (d128 float8, neg float4, small float8, d256 float8);
\copy a_dec_float FROM 'test/fixtures/arrow_decimals.zci' WITH (FORMAT zcimport)
SELECT * FROM a_dec_float;
-- a typmod applies as COPY applies it
CREATE TABLE a_dec_typmod (d128 numeric(40,1), neg numeric, small numeric(6,5), d256 numeric);
\copy a_dec_typmod FROM 'test/fixtures/arrow_decimals.zci' WITH (FORMAT zcimport)
CREATE TABLE a_dec_typmod2 (d128 numeric(40,1), neg numeric, small numeric(6,4), d256 numeric);
\copy a_dec_typmod2 FROM 'test/fixtures/arrow_decimals.zci' WITH (FORMAT zcimport)
SELECT d128, small FROM a_dec_typmod2;
-- into integers: whole numbers only, range-checked
CREATE TABLE a_dec_int (i2 int2, i8 int8, i4 int4);
\copy a_dec_int FROM 'test/fixtures/arrow_decimal_ints.zci' WITH (FORMAT zcimport)
SELECT * FROM a_dec_int;
CREATE TABLE a_dec_int1 (v int4);
\copy a_dec_int1 FROM 'test/fixtures/arrow_decimal_fraction.zci' WITH (FORMAT zcimport)
CREATE TABLE a_dec_int2 (v int2);
\copy a_dec_int2 FROM 'test/fixtures/arrow_decimal_big.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM a_dec_int1;
SELECT count(*) FROM a_dec_int2;
CREATE TABLE a_dec_date (v date);
\copy a_dec_date FROM 'test/fixtures/arrow_decimal_big.zci' WITH (FORMAT zcimport)

-- dictionaries with uint8 and uint64 codes
CREATE TABLE a_dict (u8 text, u64 varchar(1));
\copy a_dict FROM 'test/fixtures/arrow_ucodes.zci' WITH (FORMAT zcimport)
SELECT u8, u64, count(*) FROM a_dict GROUP BY 1, 2 ORDER BY 1, 2;

-- describe() shows the new types and counts their NULLs
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'arrow_decimals.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'arrow_times.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'arrow_ucodes.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'fixtures' || 'arrow_strings32.zci'));

-- malformed streams: 22P04, nothing inserted
CREATE TABLE a_bad (v numeric);
\copy a_bad FROM 'test/fixtures/arrow_bad_precision.zci' WITH (FORMAT zcimport)
CREATE TABLE a_bad_t (v time);
\copy a_bad_t FROM 'test/fixtures/arrow_time_unit.zci' WITH (FORMAT zcimport)
CREATE TABLE a_bad_i (v int4);
\copy a_bad_i FROM 'test/fixtures/arrow_based_flag_int.zci' WITH (FORMAT zcimport)
CREATE TABLE a_bad_s (v text);
\copy a_bad_s FROM 'test/fixtures/arrow_based_range.zci' WITH (FORMAT zcimport)
\copy a_bad_s FROM 'test/fixtures/arrow_offsets32_range.zci' WITH (FORMAT zcimport)
\copy a_bad_s FROM 'test/fixtures/arrow_ucode_range.zci' WITH (FORMAT zcimport)
CREATE TABLE a_bad_b (v bool);
\copy a_bad_b FROM 'test/fixtures/arrow_bitbool_length.zci' WITH (FORMAT zcimport)
SELECT (SELECT count(*) FROM a_bad) + (SELECT count(*) FROM a_bad_t) +
       (SELECT count(*) FROM a_bad_i) + (SELECT count(*) FROM a_bad_s) +
       (SELECT count(*) FROM a_bad_b) AS rows_inserted;

DROP TABLE a_bool, a_bool_int, a_str, a_str2, a_str3, a_str4, a_str5, a_d64, a_d64ts, a_d64tz,
  a_d64_int, a_time, a_timetz, a_time_text, a_time1, a_dec, a_dec_text, a_dec_float,
  a_dec_typmod, a_dec_typmod2, a_dec_int, a_dec_int1, a_dec_int2, a_dec_date, a_dict,
  a_bad, a_bad_t, a_bad_i, a_bad_s, a_bad_b;
