/*-------------------------------------------------------------------------
 *
 * substream.h
 *	  Encoder of sub-streams: batch messages holding a subset of the rows of
 *	  a decoded batch, in the zcimport stream format (docs/FORMAT.md).
 *
 * A load into a Citus distributed table decodes each batch on the
 * coordinator, picks each row's shard, and forwards to each shard a stream
 * made of the original header and dictionary messages (verbatim) and, per
 * batch, a batch message holding only that shard's rows, then an end
 * marker.  The batch message uses the column descriptors of the original
 * header unchanged: the same wire types, null encodings, flags and units;
 * values, validity and dictionary codes are copied as they are, and the
 * offsets of utf8, binary, utf8_32 and binary_32 columns are rewritten to
 * start at 0 (which is valid with and without ZC_FLAG_BASED_OFFSETS).
 *
 * Like stream.h, this depends on the C standard library only, never on
 * PostgreSQL's backend headers, so that it can be unit-tested (test/c) and
 * fuzzed (test/fuzz) on its own.
 *
 * src/substream.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_SUBSTREAM_H
#define ZCIMPORT_SUBSTREAM_H

#include "stream.h"

/*
 * Length in bytes of the batch message that holds rows rows[0 .. n) of dec's
 * current batch (dec has just returned ZC_EV_BATCH).  rows are strictly
 * ascending indexes into that batch, each < dec->batch_rows; n >= 1 (n = 0
 * gives a valid zero-row batch too).  Always a multiple of 8, and never more
 * than the length of the original batch message.
 */
extern uint64_t zc_substream_batch_len(const ZcDecoder *dec,
									   const uint32_t *rows, uint32_t n);

/*
 * Write that batch message to out, which has zc_substream_batch_len() bytes
 * and must be 8-byte aligned (as every message of a stream is, relative to
 * the stream's start).  Padding bytes are written as zeros.
 */
extern void zc_substream_write_batch(const ZcDecoder *dec,
									 const uint32_t *rows, uint32_t n,
									 uint8_t *out);

/* The end-marker message for a sub-stream that carried total_rows rows. */
#define ZC_SUBSTREAM_END_LEN	ZC_MESSAGE_FIXED_LEN

/* Write that end marker to out, which has ZC_SUBSTREAM_END_LEN bytes. */
extern void zc_substream_write_end(uint64_t total_rows, uint8_t *out);

#endif							/* ZCIMPORT_SUBSTREAM_H */
