--
-- setup: the extension and the roles the other tests use
--
CREATE EXTENSION zcimport;
SELECT e.extname, e.extversion, n.nspname AS schema,
       pg_catalog.obj_description(e.oid, 'pg_extension') AS description
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'zcimport';
\df zcimport.*
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_zc_user') THEN
    CREATE ROLE regress_zc_user;
  END IF;
END $$;
