--
-- version: the library installs the COPY hook when it is loaded
--
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
