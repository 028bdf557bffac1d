--
-- copy_text: strings, categoricals, dates, durations, bytes, decimals and
-- null columns, into the types they load into, and their errors
--
-- psql's \copy interpolates no variables: its fixture paths are relative to
-- the source directory, which \cd makes psql's working directory
\getenv abs_srcdir PG_ABS_SRCDIR
\cd :abs_srcdir
SELECT zcimport.version() IS NOT NULL AS loaded;
SET timezone = 'UTC';
SET IntervalStyle = 'postgres';

-- strings into text-like columns
CREATE TABLE strs (id int4, s text);
\copy strs FROM 'test/fixtures/strings.zci' WITH (FORMAT zcimport)
SELECT id, s, length(s), s IS NULL AS null FROM strs ORDER BY id;
CREATE TABLE strs_char (id int4, s char(40));
\copy strs_char FROM 'test/fixtures/strings.zci' WITH (FORMAT zcimport)
SELECT id, '[' || s::text || ']' AS trimmed, octet_length(s) AS bytes FROM strs_char ORDER BY id;
-- varchar(n) and char(n): too long is an error, as in COPY
CREATE TABLE strs_short (id int4, s varchar(10));
\copy strs_short FROM 'test/fixtures/strings.zci' WITH (FORMAT zcimport)
CREATE TABLE strs_char_short (id int4, s char(10));
\copy strs_char_short FROM 'test/fixtures/strings.zci' WITH (FORMAT zcimport)
-- invalid UTF-8 is an error naming the row
\copy strs FROM 'test/fixtures/invalid_utf8.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM strs;

-- strings into other types, through the type's input function
CREATE TABLE typed (j jsonb, u uuid, ip inet, d date);
\copy typed FROM 'test/fixtures/typed_text.zci' WITH (FORMAT zcimport)
SELECT * FROM typed ORDER BY d NULLS LAST;
CREATE TABLE json_only (j json);
\copy json_only FROM 'test/fixtures/not_json.zci' WITH (FORMAT zcimport)

-- categoricals: each category converted once, unused ones never
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE cats (id int4, c text);
\copy cats FROM 'test/fixtures/categories.zci' WITH (FORMAT zcimport)
SELECT * FROM cats ORDER BY id;
CREATE TABLE cats_enum (id int4, c mood);
\copy cats_enum FROM 'test/fixtures/categories.zci' WITH (FORMAT zcimport)
SELECT id, c, c > 'sad' AS above_sad FROM cats_enum ORDER BY id;
CREATE TYPE small_mood AS ENUM ('sad', 'happy');
CREATE TABLE cats_small (id int4, c small_mood);
\copy cats_small FROM 'test/fixtures/categories.zci' WITH (FORMAT zcimport)
SELECT count(*) FROM cats_small;
-- a categorical of numbers is sent as numbers
CREATE TABLE num_cats (c int4);
\copy num_cats FROM 'test/fixtures/number_categories.zci' WITH (FORMAT zcimport)
SELECT * FROM num_cats ORDER BY c NULLS LAST;
CREATE TABLE num_cats_text (c text);
\copy num_cats_text FROM 'test/fixtures/number_categories.zci' WITH (FORMAT zcimport)

-- dates
CREATE TABLE dates (d date);
\copy dates FROM 'test/fixtures/dates.zci' WITH (FORMAT zcimport)
SELECT d FROM dates ORDER BY d NULLS LAST;
CREATE TABLE dates_ts (d timestamp);
\copy dates_ts FROM 'test/fixtures/dates.zci' WITH (FORMAT zcimport)
SELECT d FROM dates_ts ORDER BY d NULLS LAST;

-- durations into interval: days and time, as Python's timedelta splits them
CREATE TABLE durations (u interval);
\copy durations FROM 'test/fixtures/durations.zci' WITH (FORMAT zcimport)
SELECT u, extract(epoch FROM u) AS seconds FROM durations ORDER BY u NULLS LAST;

-- bytes into bytea
CREATE TABLE blobs (b bytea);
\copy blobs FROM 'test/fixtures/bytes.zci' WITH (FORMAT zcimport)
SELECT b, length(b) FROM blobs ORDER BY b NULLS LAST;

-- decimals into numeric(p,s): COPY's rounding and overflow
CREATE TABLE decimals (v numeric(6,2));
\copy decimals FROM 'test/fixtures/decimals.zci' WITH (FORMAT zcimport)
SELECT v FROM decimals ORDER BY v NULLS LAST;
CREATE TABLE decimals_tight (v numeric(3,2));
\copy decimals_tight FROM 'test/fixtures/decimals.zci' WITH (FORMAT zcimport)

-- a column with no value at all loads into a column of any type
CREATE TABLE nothing (id int4, n int8 DEFAULT 5);
\copy nothing FROM 'test/fixtures/nothing.zci' WITH (FORMAT zcimport)
SELECT id, n, n IS NULL AS null FROM nothing ORDER BY id;
CREATE TABLE nothing_nn (id int4, n int8 NOT NULL);
\copy nothing_nn FROM 'test/fixtures/nothing.zci' WITH (FORMAT zcimport)

-- mismatches are reported before any row is inserted
CREATE TABLE mismatch1 (id int4, s int4);
\copy mismatch1 FROM 'test/fixtures/strings.zci' WITH (FORMAT zcimport)
CREATE TABLE mismatch2 (b text);
\copy mismatch2 FROM 'test/fixtures/bytes.zci' WITH (FORMAT zcimport)
CREATE TABLE mismatch3 (d int8);
\copy mismatch3 FROM 'test/fixtures/dates.zci' WITH (FORMAT zcimport)
CREATE TABLE mismatch4 (u timestamp);
\copy mismatch4 FROM 'test/fixtures/durations.zci' WITH (FORMAT zcimport)
CREATE TABLE mismatch5 (id int4, c bool);
\copy mismatch5 FROM 'test/fixtures/categories.zci' WITH (FORMAT zcimport)

-- describe shows the new wire types
SELECT * FROM zcimport.describe(pg_read_binary_file(:'abs_srcdir' || '/test/fixtures/categories.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'abs_srcdir' || '/test/fixtures/strings.zci'));
SELECT * FROM zcimport.describe(pg_read_binary_file(:'abs_srcdir' || '/test/fixtures/nothing.zci'));

DROP TABLE strs, strs_char, strs_short, strs_char_short, typed, json_only, cats,
    cats_enum, cats_small, num_cats, num_cats_text, dates, dates_ts, durations,
    blobs, decimals, decimals_tight, nothing, nothing_nn, mismatch1, mismatch2,
    mismatch3, mismatch4, mismatch5;
DROP TYPE mood, small_mood;
