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

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Install the utility hook and define the settings when the library loads. */
void
_PG_init(void)
{
	zc_indexes_define_guc();
	zc_install_hook();
}
