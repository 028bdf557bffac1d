--
-- version: the library installs the COPY hook when it is loaded
--
-- psql's \copy interpolates no variables: its fixture paths are relative to
-- the source directory, which \cd makes psql's working directory
\getenv abs_srcdir PG_ABS_SRCDIR
\cd :abs_srcdir
CREATE TABLE version_t (a float8, b int8);
-- a fresh session has not loaded the library yet: core COPY refuses the format
\copy version_t FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
-- any call of a C function of the extension loads it
SELECT zcimport.version();
\copy version_t FROM 'test/fixtures/batches.zci' WITH (FORMAT zcimport)
SELECT count(*), sum(a), sum(b) FROM version_t;
-- other COPY statements are handed on untouched
COPY version_t TO STDOUT WITH (FORMAT csv);
DROP TABLE version_t;
