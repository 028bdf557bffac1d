/*-------------------------------------------------------------------------
 *
 * zcimport.c
 *	  Module entry point of zcimport.
 *
 * Loading the library (through shared_preload_libraries,
 * session_preload_libraries, or the first call of any of its functions,
 * such as zcimport.version()) installs the COPY ... (FORMAT zcimport) hook
 * for the rest of the session.  The SQL-callable functions are in
 * functions.c.
 *
 * src/zcimport.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "hook.h"
#include "indexes.h"

/* 18 records the library's name and version, shown by pg_get_loaded_modules() */
#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(.name = "zcimport", .version = ZCIMPORT_VERSION);
#else
PG_MODULE_MAGIC;
#endif

void		_PG_init(void);

/* Install the utility hook and define the settings when the library loads. */
void
_PG_init(void)
{
	zc_indexes_define_guc();
	zc_install_hook();
}
