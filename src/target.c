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
 * of a WHERE clause.  Citus tables are refused: see check_not_citus().
 *
 * src/target.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
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
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

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
 * Is rel a Citus table: distributed, reference or Citus-local?  Citus lists
 * every such table in its catalog pg_catalog.pg_dist_partition, which exists
 * only where the citus extension is installed.
 */
static bool
is_citus_table(Relation rel)
{
	Oid			catalog;
	AttrNumber	attnum;
	Relation	partition;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(catalog))
		return false;
	attnum = get_attnum(catalog, "logicalrelid");
	if (attnum == InvalidAttrNumber)
		return false;

	partition = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, attnum, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	scan = systable_beginscan(partition, InvalidOid, false, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(partition, AccessShareLock);
	return found;
}

/*
 * Refuse Citus tables.  zcimport handles the COPY before Citus's utility
 * hook could (Citus must be loaded first, so zcimport's hook wraps it), and
 * the executor would write the rows into the coordinator's shell table,
 * where no Citus query reads them.
 */
static void
check_not_citus(Relation rel)
{
	if (is_citus_table(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot load into Citus table \"%s\" with zcimport",
						RelationGetRelationName(rel)),
				 errdetail("Distributed, reference and Citus local tables keep their rows in shards, which zcimport does not write."),
				 errhint("Load the table with COPY in FORMAT binary or csv, which Citus distributes.")));
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

	aclresult = pg_namespace_aclcheck(nspid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_SCHEMA, get_namespace_name(nspid));
}

/* Check and describe the target of a load; see target.h. */
void
zc_target_prepare(ParseState *pstate, Relation rel, List *attlist,
				  Node *where, ZcLoadOptions *options)
{
	ParseNamespaceItem *nsitem;
	RangeTblEntry *rte;
	ListCell   *lc;

	check_schema_usage(rel);
	check_not_citus(rel);

	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock,
										   NULL, false, false);
	rte = nsitem->p_rte;
	rte->requiredPerms = ACL_INSERT;

	if (where != NULL)
		options->where_clause = transform_where(pstate, nsitem, where);

	options->attnums = CopyGetAttnums(RelationGetDescr(rel), rel, attlist);
	foreach(lc, options->attnums)
	{
		int			attno = lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber;

		rte->insertedCols = bms_add_member(rte->insertedCols, attno);
	}
	ExecCheckRTPerms(pstate->p_rtable, true);

	if (check_enable_rls(rte->relid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FROM not supported with row-level security"),
				 errhint("Use INSERT statements instead.")));

	if (XactReadOnly && !rel->rd_islocaltemp)
		PreventCommandIfReadOnly("COPY FROM");

	options->rel = rel;
	options->range_table = pstate->p_rtable;
}
