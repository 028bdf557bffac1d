/* zcimport--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION zcimport" to load this file. \quit

GRANT USAGE ON SCHEMA zcimport TO PUBLIC;

-- Version of the loaded library.  Calling any C function of the extension
-- loads the library, which installs the COPY ... (FORMAT zcimport) hook for
-- the rest of the session; the Python client calls this first.
CREATE FUNCTION zcimport.version() RETURNS text
AS 'MODULE_PATHNAME', 'zcimport_version'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION zcimport.version() IS
'version of the zcimport library; calling it loads the COPY (FORMAT zcimport) hook';
