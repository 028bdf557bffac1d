/*-------------------------------------------------------------------------
 *
 * zcimport.c
 *	  Module entry point and the SQL-callable functions of zcimport.
 *
 * Loading the library (through shared_preload_libraries,
 * session_preload_libraries, or the first call of any of its functions,
 * such as zcimport.version()) installs the COPY ... (FORMAT zcimport) hook
 * for the rest of the session.
 *
 * src/zcimport.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "hook.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

#define ZCIMPORT_VERSION "0.1.0"

/* Install the utility hook when the library is loaded. */
void
_PG_init(void)
{
	zc_install_hook();
}

PG_FUNCTION_INFO_V1(zcimport_version);

/* zcimport.version(): the version of the loaded library. */
Datum
zcimport_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(ZCIMPORT_VERSION));
}
