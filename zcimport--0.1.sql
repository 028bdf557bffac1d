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

-- Load a complete stream passed as a value, into every column of target in
-- order.  Checks privileges as COPY FROM does; runs in the caller's
-- transaction.  Returns the number of rows loaded.
CREATE FUNCTION zcimport.import_bytea(target regclass, data bytea) RETURNS bigint
AS 'MODULE_PATHNAME', 'zcimport_import_bytea'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION zcimport.import_bytea(regclass, bytea) IS
'load a zcimport stream given as a bytea into a table; returns the rows loaded';

-- Load a stream file on the server.  Like COPY FROM a file, only for
-- superusers and members of pg_read_server_files; EXECUTE is revoked from
-- PUBLIC as well.
CREATE FUNCTION zcimport.import_file(target regclass, path text) RETURNS bigint
AS 'MODULE_PATHNAME', 'zcimport_import_file'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION zcimport.import_file(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION zcimport.import_file(regclass, text) TO pg_read_server_files;

COMMENT ON FUNCTION zcimport.import_file(regclass, text) IS
'load a zcimport stream file on the server into a table; returns the rows loaded';

-- Validate a whole stream and describe its columns, without loading it.
CREATE FUNCTION zcimport.describe(data bytea)
RETURNS TABLE (column_no integer, name text, wire_type text,
               null_encoding text, sentinel_null boolean,
               rows bigint, nulls bigint, bytes bigint)
AS 'MODULE_PATHNAME', 'zcimport_describe'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION zcimport.describe(bytea) IS
'validate a zcimport stream and return one row per column: name, wire type, null encoding, rows, NULLs and bytes';
