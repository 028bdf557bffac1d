/*-------------------------------------------------------------------------
 *
 * target.c
 *	  The checks a load makes on its target table, as COPY FROM makes them.
 *
 * Both ways into a load, the COPY hook and the SQL functions, check their
 * target here, as DoCopy() does in PostgreSQL's copy.c: USAGE on the
 * table's schema, a range table entry requiring INSERT on the loaded
 * columns, ExecCheckRTPerms(), row-level security (refused), read-only
 * transactions (refused but for temporary tables), and the transformation
 * of a WHERE clause.  A Citus table is marked for citus.c, which checks
 * what it can route.
 *
 * src/target.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/copy.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "citus.h"
#include "compat.h"
#include "target.h"

/* Transform a COPY FROM ... WHERE clause, as DoCopy() does. */
static Node *
transform_where(ParseState *pstate, ParseNamespaceItem *nsitem, Node *where)
{
	Node	   *clause;

	addNSItemToQuery(pstate, nsitem, false, true, true);
	clause = transformExpr(pstate, where, EXPR_KIND_COPY_WHERE);
	clause = coerce_to_boolean(pstate, clause, "WHERE");
	assign_expr_collations(pstate, clause);
	clause = eval_const_expressions(NULL, clause);
	clause = (Node *) canonicalize_qual((Expr *) clause, false);
	return (Node *) make_ands_implicit((Expr *) clause);
}

/*
 * A caller that names the table by OID bypasses the schema lookup that
 * checks USAGE on its schema; check it here, as INSERT and COPY do.
 */
static void
check_schema_usage(Relation rel)
{
	Oid			nspid = RelationGetNamespace(rel);
	AclResult	aclresult;

	aclresult = zc_namespace_aclcheck(nspid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_SCHEMA, get_namespace_name(nspid));
}

/* Check and describe the target of a load; see target.h. */
void
zc_target_prepare(ParseState *pstate, Relation rel, List *attlist,
				  Node *where, ZcLoadOptions *options)
{
	ParseNamespaceItem *nsitem;
	ZcPermInfo *perms;
	ListCell   *lc;

	check_schema_usage(rel);

	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock,
										   NULL, false, false);
	perms = ZC_NSITEM_PERMS(nsitem);
	perms->requiredPerms = ACL_INSERT;

	if (where != NULL)
		options->where_clause = transform_where(pstate, nsitem, where);

	options->attnums = CopyGetAttnums(RelationGetDescr(rel), rel, attlist);
	foreach(lc, options->attnums)
	{
		int			attno = lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber;

		perms->insertedCols = bms_add_member(perms->insertedCols, attno);
	}
	zc_check_perms(pstate->p_rtable, perms);

	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FROM not supported with row-level security"),
				 errhint("Use INSERT statements instead.")));

	if (XactReadOnly && !rel->rd_islocaltemp)
		PreventCommandIfReadOnly("COPY FROM");

	options->rel = rel;
	options->range_table = pstate->p_rtable;
	options->perminfos = ZC_PSTATE_PERMINFOS(pstate);

	/* its rows live in shards: citus.c routes the load there */
	options->citus = zc_citus_check(options);
}
