--
-- setup: the extension and the roles the other tests use
--
CREATE EXTENSION zcimport;
\dx zcimport
\df zcimport.*
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_zc_user') THEN
    CREATE ROLE regress_zc_user;
  END IF;
END $$;
