/*-------------------------------------------------------------------------
 *
 * hook.c
 *	  The ProcessUtility hook behind COPY ... WITH (FORMAT zcimport).
 *
 * The hook catches a CopyStmt whose FORMAT option is zcimport and runs it
 * here; every other statement goes on, untouched, to the previous hook or
 * to standard_ProcessUtility().  For COPY t [(cols)] FROM STDIN it checks
 * the target as DoCopy() does (target.c), answers CopyInResponse, runs the
 * load and sets the ordinary "COPY n" command tag.  COPY TO and COPY FROM a
 * file or program are refused with FORMAT zcimport.
 *
 * A zcimport COPY is not passed on: no hook below this one, and not
 * standard_ProcessUtility(), could run it.  Libraries loaded before
 * pg_zcimport (their hooks are below) therefore never see a load, which
 * matters for pg_stat_statements and pgaudit.  The docs recommend listing
 * pg_zcimport before them in shared_preload_libraries (after citus, which
 * must be first).  When the order hides a load from them anyway, each load
 * says so in the server log, and the first of a session in a NOTICE; and
 * when one of them also checks permissions, as pgaudit does, the load is
 * refused (see check_bypassed_hooks()).
 *
 * src/hook.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>

#include "access/table.h"
#include "access/xact.h"
#include "commands/copy.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "copyin.h"
#include "hook.h"
#include "load.h"
#include "target.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * What was hooked before pg_zcimport was loaded, by library file name, or
 * NULL: the utility hook below ours that loads bypass (not Citus's: Citus
 * must be loaded first, so its hook is always below, and the Citus tables
 * it would handle are refused by target.c), and an ExecutorCheckPerms_hook.
 */
static const char *bypassed_library = NULL;
static const char *perms_library = NULL;
static bool bypass_noticed = false;

/* The file name of the library that holds fn, such as "pgaudit.so". */
static const char *
hook_library(void *fn)
{
	Dl_info		info;
	const char *name = "an unknown library";

	if (dladdr(fn, &info) != 0 && info.dli_fname != NULL)
	{
		const char *slash = strrchr(info.dli_fname, '/');

		name = slash ? slash + 1 : info.dli_fname;
	}
	return MemoryContextStrdup(TopMemoryContext, name);
}

/* Remember which libraries hooked what before this one; see above. */
static void
note_earlier_hooks(void)
{
	if (prev_ProcessUtility != NULL)
	{
		const char *name = hook_library((void *) prev_ProcessUtility);

		if (strncmp(name, "citus", 5) != 0)
			bypassed_library = name;
	}
	if (ExecutorCheckPerms_hook != NULL)
		perms_library = hook_library((void *) ExecutorCheckPerms_hook);
}

/*
 * Check that this load may bypass the utility hooks below zcimport's, and
 * say that it does: in the server log for every load, and in a NOTICE for
 * the first of a session.
 *
 * A library loaded earlier that also checks permissions (pgaudit,
 * sepgsql, pg_stat_monitor) would see the load's ExecCheckRTPerms() without
 * having seen the statement in its utility hook, which it may not survive
 * (pgaudit crashes) and which would at best escape its audit: refuse.
 */
static void
check_bypassed_hooks(void)
{
	if (bypassed_library == NULL)
		return;
	if (perms_library != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zcimport cannot load while %s is loaded before pg_zcimport",
						perms_library),
				 errdetail("That library checks the permissions of statements that its utility hook has seen; zcimport runs loads in its own utility hook, which %s does not wrap.",
						   perms_library),
				 errhint("List pg_zcimport in shared_preload_libraries after citus and before every other library.")));
	if (!bypass_noticed)
	{
		ereport(NOTICE,
				(errmsg("zcimport loads are not seen by the utility hooks of libraries loaded before pg_zcimport"),
				 errdetail("The last of them is %s; pg_stat_statements, for example, does not record these loads.",
						   bypassed_library),
				 errhint("List pg_zcimport in shared_preload_libraries after citus and before every other library.")));
		bypass_noticed = true;
	}
	ereport(LOG,
			(errmsg("zcimport load is not seen by the utility hooks of libraries loaded before pg_zcimport"),
			 errdetail("The last of them is %s.", bypassed_library)));
}

/* Does this COPY statement ask for FORMAT zcimport? */
static bool
is_zcimport_copy(CopyStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "format") == 0 &&
			strcmp(defGetString(def), "zcimport") == 0)
			return true;
	}
	return false;
}

/*
 * Check the COPY options that FORMAT zcimport allows, and return the one it
 * takes: FREEZE.
 */
static bool
freeze_option(ParseState *pstate, List *options)
{
	bool		freeze = false;
	bool		freeze_seen = false;
	bool		format_seen = false;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "format") == 0)
		{
			if (format_seen)
				errorConflictingDefElem(def, pstate);
			format_seen = true;
		}
		else if (strcmp(def->defname, "freeze") == 0)
		{
			if (freeze_seen)
				errorConflictingDefElem(def, pstate);
			freeze_seen = true;
			freeze = defGetBoolean(def);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("COPY option \"%s\" is not supported with FORMAT zcimport",
							def->defname),
					 errdetail("FORMAT zcimport accepts only the FREEZE option."),
					 parser_errposition(pstate, def->location)));
	}
	return freeze;
}

/* Run COPY t [(cols)] FROM STDIN WITH (FORMAT zcimport [, FREEZE]). */
static uint64
copy_from_stdin(ParseState *pstate, CopyStmt *stmt)
{
	ZcLoadOptions options;
	ZcInput		input;
	Relation	rel;
	uint64		processed;

	memset(&options, 0, sizeof(options));
	options.freeze = freeze_option(pstate, stmt->options);

	if (whereToSendOutput != DestRemote)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FROM STDIN with FORMAT zcimport needs a client connection")));

	rel = table_openrv(stmt->relation, RowExclusiveLock);
	zc_target_prepare(pstate, rel, stmt->attlist, stmt->whereClause, &options);
	options.progress_type = PROGRESS_COPY_TYPE_PIPE;

	zc_copyin_begin(list_length(options.attnums));
	zc_input_init_copyin(&input);
	processed = zc_load(&options, &input);

	table_close(rel, NoLock);
	return processed;
}

/* Run a COPY statement with FORMAT zcimport, or refuse it. */
static uint64
run_zcimport_copy(CopyStmt *stmt, const char *queryString,
				  QueryEnvironment *queryEnv)
{
	ParseState *pstate;
	uint64		processed;

	if (!stmt->is_from)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY TO is not supported with FORMAT zcimport"),
				 errhint("FORMAT zcimport only loads data; use FORMAT binary or csv to export it.")));
	if (stmt->is_program)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FROM PROGRAM is not supported with FORMAT zcimport")));
	if (stmt->filename != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FROM a file is not supported with FORMAT zcimport"),
				 errhint("Send the file from the client with psql's \\copy ... FROM 'file' WITH (FORMAT zcimport).")));

	/* what standard_ProcessUtility() checks for COPY FROM */
	if (XactReadOnly || IsInParallelMode())
	{
		PreventCommandIfParallelMode("COPY FROM");
		PreventCommandDuringRecovery("COPY FROM");
	}

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = queryString;
	pstate->p_queryEnv = queryEnv;
	processed = copy_from_stdin(pstate, stmt);
	free_parsestate(pstate);
	return processed;
}

/* The hook: FORMAT zcimport here, everything else passed on. */
static void
zc_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, CopyStmt) && is_zcimport_copy((CopyStmt *) parsetree))
	{
		uint64		processed;

		check_stack_depth();
		check_bypassed_hooks();
		processed = run_zcimport_copy((CopyStmt *) parsetree, queryString,
									  queryEnv);
		if (qc)
			SetQueryCompletion(qc, CMDTAG_COPY, processed);
		return;
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* Install the hook; called once, when the library is loaded. */
void
zc_install_hook(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = zc_ProcessUtility;
	note_earlier_hooks();
}
