/* sql/zcimport.sql: the install script, copied to zcimport--<version>.sql by make */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION zcimport" to load this file. \quit

-- CREATE EXTENSION uses a schema "zcimport" that already exists.  Refuse
-- one that another role owns or may create objects in, or that already holds
-- objects: a function placed there could win overload resolution against
-- ours and run as whoever calls it.  Every name here is schema-qualified.
DO $$
DECLARE
    nsp pg_catalog.oid;
    owner pg_catalog.oid;
    creator pg_catalog.text;
    object pg_catalog.text;
BEGIN
    SELECT n.oid, n.nspowner INTO nsp, owner
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname OPERATOR(pg_catalog.=) 'zcimport';
    IF owner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r
                                       WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.format('schema "zcimport" is owned by role "%s"',
                                        pg_catalog.pg_get_userbyid(owner)),
            DETAIL = 'The extension installs into schema "zcimport", which must be owned by the role that creates the extension.',
            HINT = 'Drop or rename that schema, or create the extension as its owner after checking what it holds.';
    END IF;
    SELECT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'public'
                ELSE pg_catalog.pg_get_userbyid(a.grantee)::pg_catalog.text END INTO creator
      FROM pg_catalog.pg_namespace n,
           LATERAL pg_catalog.aclexplode(n.nspacl) a
     WHERE n.oid OPERATOR(pg_catalog.=) nsp
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) owner
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.format('role "%s" may create objects in schema "zcimport"', creator),
            HINT = 'Revoke CREATE on the schema from every role but its owner.';
    END IF;
    SELECT o.name INTO object
      FROM (SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_class c
             WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT p.proname::pg_catalog.text FROM pg_catalog.pg_proc p
             WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT t.typname::pg_catalog.text FROM pg_catalog.pg_type t
             WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT o.oprname::pg_catalog.text FROM pg_catalog.pg_operator o
             WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT l.collname::pg_catalog.text FROM pg_catalog.pg_collation l
             WHERE l.collnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT v.conname::pg_catalog.text FROM pg_catalog.pg_conversion v
             WHERE v.connamespace OPERATOR(pg_catalog.=) nsp) AS o(name)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'schema "zcimport" is not empty',
            DETAIL = pg_catalog.format('It holds "%s", which is not part of the extension.', object),
            HINT = 'Drop or rename that schema, or empty it, before creating the extension.';
    END IF;
END
$$;

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
