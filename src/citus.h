/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  Loads into Citus tables: routing a stream to the shards on the
 *	  coordinator.
 *
 * On a Citus coordinator, a load into a distributed, reference or
 * Citus-local table decodes the stream, splits each batch by shard, and
 * sends each shard placement its rows as a zcimport sub-stream over
 * Citus's own connections, inside Citus's distributed transaction.  See
 * docs/citus.md.
 *
 * src/citus.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_CITUS_H
#define ZCIMPORT_CITUS_H

#include "utils/relcache.h"

#include "input.h"
#include "load.h"

/*
 * Is options->rel a Citus table (listed in Citus's pg_dist_partition)?  If
 * it is, check that its load can be routed (on the coordinator, a kind
 * zcimport routes, the distribution column in the stream, no WHERE or
 * FREEZE), or refuse it.
 */
extern bool zc_citus_check(const ZcLoadOptions *options);

/* Load the stream from input into Citus table options->rel. */
extern uint64 zc_citus_load(const ZcLoadOptions *options, ZcInput *input);

#endif							/* ZCIMPORT_CITUS_H */
