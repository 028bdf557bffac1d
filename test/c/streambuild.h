/*-------------------------------------------------------------------------
 *
 * streambuild.h
 *	  Build zcimport streams (docs/FORMAT.md) in memory, for the decoder's
 *	  unit tests and the fuzzer's seed corpus.
 *
 * The builder writes exactly what it is told: the low-level functions
 * (sb_u32, sb_buffer, ...) can produce invalid streams on purpose, while the
 * higher-level ones (sb_header, sb_strings, sb_dictionary, ...) lay out
 * valid structures.  Allocation failures abort the process.
 *
 * test/c/streambuild.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_STREAMBUILD_H
#define ZCIMPORT_STREAMBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; data is at least 8-byte aligned. */
typedef struct SbBuf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} SbBuf;

/* One column of a header; name and tz may be NULL (empty). */
typedef struct SbColumn
{
	uint8_t		type;			/* ZcWireType */
	uint8_t		nulls;			/* ZcNullEncoding */
	uint8_t		flags;			/* ZC_FLAG_* */
	uint8_t		unit;			/* ZcTimeUnit */
	uint8_t		index_type;		/* dictionary: wire type of the codes */
	uint8_t		value_type;		/* dictionary: ZC_T_UTF8 */
	const char *name;
	const char *tz;
} SbColumn;

/* The example stream of docs/FORMAT.md: one float64 column, [1.5, NaN]. */
#define SB_FORMAT_EXAMPLE_LEN 96
extern const uint8_t sb_format_example[SB_FORMAT_EXAMPLE_LEN];

extern void sb_init(SbBuf *b);
extern void sb_free(SbBuf *b);
extern void sb_reset(SbBuf *b);

/* Raw appends. */
extern void sb_put(SbBuf *b, const void *p, size_t n);
extern void sb_zeros(SbBuf *b, size_t n);
extern void sb_u8(SbBuf *b, uint8_t v);
extern void sb_u16(SbBuf *b, uint16_t v);
extern void sb_u32(SbBuf *b, uint32_t v);
extern void sb_u64(SbBuf *b, uint64_t v);
extern void sb_pad8(SbBuf *b);

/* Overwrite bytes already written (for corrupting a valid stream). */
extern void sb_set_u8(SbBuf *b, size_t at, uint8_t v);
extern void sb_set_u16(SbBuf *b, size_t at, uint16_t v);
extern void sb_set_u32(SbBuf *b, size_t at, uint32_t v);
extern void sb_set_u64(SbBuf *b, size_t at, uint64_t v);

/* The header with its column descriptors; returns its length. */
extern size_t sb_header(SbBuf *b, uint32_t ncolumns, const SbColumn *cols);

/* A column descriptor alone (no header fixed part); returns its length. */
extern size_t sb_descriptor(SbBuf *b, const SbColumn *col);

/* A message's 16-byte fixed part. */
extern void sb_message(SbBuf *b, uint32_t kind, uint32_t column,
					   uint64_t count);
extern void sb_batch(SbBuf *b, uint64_t rows);
extern void sb_end(SbBuf *b, uint64_t total_rows);

/* One buffer: 8-byte length, the bytes, zero padding. */
extern void sb_buffer(SbBuf *b, const void *p, uint64_t len);

/*
 * The validity buffer of n rows for a null encoding (nothing for
 * ZC_NULLS_NONE); valid == NULL means every row is valid.
 */
extern void sb_validity(SbBuf *b, uint8_t nulls, const bool *valid,
						size_t n);

/* Offsets and data buffers of n strings; NULL entries are empty. */
extern void sb_strings(SbBuf *b, const char *const *values, size_t n);

/* Offsets and data buffers of n byte strings with explicit lengths. */
extern void sb_binaries(SbBuf *b, const void *const *values,
						const size_t *lens, size_t n);

/*
 * The same with the first value at offset first of the data buffer, which
 * then starts with first bytes that belong to no value.
 */
extern void sb_strings_from(SbBuf *b, const char *const *values, size_t n,
							uint64_t first);
extern void sb_binaries_from(SbBuf *b, const void *const *values,
							 const size_t *lens, size_t n, uint64_t first);

/*
 * Offsets of owidth bytes (8, or 4 for utf8_32 and binary_32) and data of n
 * byte strings, the first at offset first; with based, the data buffer
 * starts at offsets[0] (ZC_FLAG_BASED_OFFSETS), otherwise with first filler
 * bytes.
 */
extern void sb_varlen_from(SbBuf *b, int owidth, bool based,
						   const void *const *values, const size_t *lens,
						   size_t n, uint64_t first);

/*
 * Set what a column of its type needs to be valid (time32/time64 units, a
 * decimal's precision, a dictionary's index and value types), keeping
 * fields that are already valid.
 */
extern void sb_complete_column(SbColumn *col);

/* A whole dictionary message for a column. */
extern void sb_dictionary(SbBuf *b, uint32_t column,
						  const char *const *entries, size_t n);

/* The same with the first entry at offset first of the data buffer. */
extern void sb_dictionary_from(SbBuf *b, uint32_t column,
							   const char *const *entries, size_t n,
							   uint64_t first);

/* Receives each sample stream of sb_sample_streams(). */
typedef void (*SbEmitFn) (void *arg, const char *name, const uint8_t *data,
						  size_t len);

/*
 * Build a set of valid sample streams covering every wire type, null
 * encoding, sentinel flags, dictionaries, several batches, zero-row batches
 * and the empty stream, and hand each to emit.  Returns how many.
 */
extern int	sb_sample_streams(SbEmitFn emit, void *arg);

/* Largest stream sb_block_streams() builds, so that fuzzer seeds fit. */
#define SB_BLOCK_MAX_LEN 8000

/*
 * Build valid streams whose batches have 16 rows or more, so that the
 * decoder's 16-row block loops (offsets, dictionary codes) run: every wire
 * type under every null encoding in batches of 16, 17, 31 and 33 rows;
 * fixed-width types and strings in batches of 100 rows; utf8, binary and
 * dictionaries whose first offset is not 0; dictionary columns with int8,
 * int16, int32 and int64 codes under every null encoding, with
 * dictionaries of up to 100 entries, replaced between batches; the wire
 * types Arrow needs (bitbool to decimal256) with 32-bit and based offsets,
 * every time32/time64 unit, decimal precisions and scales, and unsigned
 * dictionary codes, under every null encoding in batches of 16 to 48 rows.
 * Each stream is at most SB_BLOCK_MAX_LEN bytes.  Hands each to emit and returns
 * how many.
 */
extern int	sb_block_streams(SbEmitFn emit, void *arg);

#endif							/* ZCIMPORT_STREAMBUILD_H */
