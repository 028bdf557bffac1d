--
-- teardown: drop the role setup made, with what it was granted here
--
DROP OWNED BY regress_zc_user;
DROP ROLE regress_zc_user;
SELECT count(*) FROM pg_roles WHERE rolname = 'regress_zc_user';
