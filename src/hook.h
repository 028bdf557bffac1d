/*-------------------------------------------------------------------------
 *
 * hook.h
 *	  The ProcessUtility hook behind COPY ... WITH (FORMAT zcimport).
 *
 * src/hook.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_HOOK_H
#define ZCIMPORT_HOOK_H

/* Install the hook; called once, from _PG_init(). */
extern void zc_install_hook(void);

#endif							/* ZCIMPORT_HOOK_H */
