/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Decoder for the zcimport stream format (docs/FORMAT.md).
 *
 * The decoder validates the header and every message of a stream and
 * presents each batch as per-column views that point into the caller's
 * buffer.  It copies no column data.
 *
 * This header and stream.c depend on the C standard library only, never on
 * PostgreSQL's backend headers, so that the decoder can be unit-tested
 * (test/c) and fuzzed (test/fuzz) on its own.
 *
 * src/stream.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_STREAM_H
#define ZCIMPORT_STREAM_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZC_MAGIC_LEN			8
#define ZC_VERSION				1
#define ZC_BYTE_ORDER_LITTLE	'L'
#define ZC_MAX_COLUMNS			1600
#define ZC_HEADER_FIXED_LEN		24
#define ZC_DESC_FIXED_LEN		12
#define ZC_MAX_HEADER_LEN		(1u << 20)
#define ZC_MAX_NAME_LEN			1024
#define ZC_MAX_TZ_LEN			255
#define ZC_MESSAGE_FIXED_LEN	16
#define ZC_MAX_COUNT			INT32_MAX	/* rows per batch, dictionary
											 * entries */

/* Round up to the stream's alignment of 8 bytes. */
#define ZC_ALIGN8(x)			(((x) + 7) & ~((uint64_t) 7))

extern const unsigned char zc_magic[ZC_MAGIC_LEN];

/* Wire types: how a column's values are laid out in the stream. */
typedef enum ZcWireType
{
	ZC_T_BOOL = 1,
	ZC_T_INT8 = 2,
	ZC_T_INT16 = 3,
	ZC_T_INT32 = 4,
	ZC_T_INT64 = 5,
	ZC_T_UINT8 = 6,
	ZC_T_UINT16 = 7,
	ZC_T_UINT32 = 8,
	ZC_T_UINT64 = 9,
	ZC_T_FLOAT32 = 10,
	ZC_T_FLOAT64 = 11,
	ZC_T_TIMESTAMP = 12,
	ZC_T_TIMESTAMPTZ = 13,
	ZC_T_DURATION = 14,
	ZC_T_DATE32 = 15,
	ZC_T_UTF8 = 16,
	ZC_T_BINARY = 17,
	ZC_T_DICTIONARY = 18,
	ZC_T_NULL = 19,
	ZC_T_BITBOOL = 20,			/* Arrow boolean: one bit per value */
	ZC_T_UTF8_32 = 21,			/* utf8 with 32-bit offsets */
	ZC_T_BINARY_32 = 22,		/* binary with 32-bit offsets */
	ZC_T_DATE64 = 23,			/* milliseconds since 1970-01-01 */
	ZC_T_TIME32 = 24,			/* time of day, s or ms */
	ZC_T_TIME64 = 25,			/* time of day, us or ns */
	ZC_T_DECIMAL128 = 26,		/* 128-bit unscaled integer */
	ZC_T_DECIMAL256 = 27		/* 256-bit unscaled integer */
} ZcWireType;

#define ZC_T_MAX				ZC_T_DECIMAL256

/* Largest precision of decimal128 and decimal256 columns. */
#define ZC_DECIMAL128_MAX_PRECISION	38
#define ZC_DECIMAL256_MAX_PRECISION	76

/* How NULLs are marked, besides sentinels. */
typedef enum ZcNullEncoding
{
	ZC_NULLS_NONE = 0,
	ZC_NULLS_BITMAP = 1,		/* Arrow validity bitmap, 1 = valid */
	ZC_NULLS_BYTEMASK = 2		/* NumPy mask, non-zero = NULL */
} ZcNullEncoding;

/* Units of timestamp, timestamptz and duration columns. */
typedef enum ZcTimeUnit
{
	ZC_UNIT_S = 0,
	ZC_UNIT_MS = 1,
	ZC_UNIT_US = 2,
	ZC_UNIT_NS = 3
} ZcTimeUnit;

/* Column flag: NaN (floats) or INT64_MIN (time types) is NULL. */
#define ZC_FLAG_SENTINEL_NULL	0x01

/*
 * Column flag of utf8, binary, utf8_32 and binary_32: the data buffer starts
 * at offsets[0] (an Arrow slice's offsets with only the bytes it uses).
 */
#define ZC_FLAG_BASED_OFFSETS	0x02

typedef enum ZcMessageKind
{
	ZC_MSG_BATCH = 1,
	ZC_MSG_DICTIONARY = 2,
	ZC_MSG_END = 3
} ZcMessageKind;

/* One column descriptor from the header. */
typedef struct ZcColumnDesc
{
	uint8_t		type;			/* ZcWireType */
	uint8_t		nulls;			/* ZcNullEncoding */
	uint8_t		flags;			/* ZC_FLAG_* */
	uint8_t		unit;			/* ZcTimeUnit, for time types */
	uint8_t		index_type;		/* dictionary: wire type of the codes;
								 * decimals: the precision (byte 4) */
	uint8_t		value_type;		/* dictionary: wire type of the entries;
								 * decimals: the scale's byte (byte 5) */
	uint8_t		precision;		/* decimals: 1..38 or 1..76; otherwise 0 */
	int8_t		scale;			/* decimals: signed scale; otherwise 0 */
	uint16_t	name_len;
	uint16_t	tz_len;
	char	   *name;			/* NUL-terminated copy, owned by the decoder */
	char	   *tz;				/* NUL-terminated copy, "" when none */
} ZcColumnDesc;

/*
 * One column of the current batch.  Pointers point into the buffer given to
 * zc_decoder_next() and are valid as long as that buffer is.  Which members
 * are set depends on the wire type and null encoding.
 */
typedef struct ZcColumnView
{
	const uint8_t *validity;	/* bitmap or byte mask; NULL if no encoding */
	const uint8_t *values;		/* fixed-width values, dictionary codes, or
								 * the bits of a bitbool column */
	const int64_t *offsets;		/* utf8/binary: nrows + 1 offsets */
	const int32_t *offsets32;	/* utf8_32/binary_32: nrows + 1 offsets */
	const uint8_t *data;		/* the bytes of all four */
	uint64_t	data_len;
	int64_t		data_base;		/* subtracted from every offset: offsets[0]
								 * with ZC_FLAG_BASED_OFFSETS, else 0 */
} ZcColumnView;

/* The entries of a dictionary message. */
typedef struct ZcDictionaryView
{
	uint32_t	column;			/* index of the column it belongs to */
	uint64_t	count;			/* number of entries */
	const int64_t *offsets;		/* count + 1 offsets */
	const uint8_t *data;
	uint64_t	data_len;
} ZcDictionaryView;

typedef enum ZcStatus
{
	ZC_ERROR = -1,
	ZC_OK = 0,
	ZC_NEED_MORE = 1
} ZcStatus;

typedef enum ZcEvent
{
	ZC_EV_NONE = 0,
	ZC_EV_HEADER,				/* columns are known */
	ZC_EV_BATCH,				/* views hold a batch of batch_rows rows */
	ZC_EV_DICTIONARY,			/* dict holds a column's new dictionary */
	ZC_EV_END					/* the end marker; total_rows is final */
} ZcEvent;

#define ZC_ERROR_LEN			256

typedef struct ZcError
{
	char		message[ZC_ERROR_LEN];	/* lowercase, no period */
} ZcError;

/* Allocator for the decoder's few allocations (all made at header time). */
typedef void *(*ZcAllocFn) (void *arg, size_t size);

typedef enum ZcState
{
	ZC_STATE_HEADER = 0,
	ZC_STATE_MESSAGES,
	ZC_STATE_DONE,
	ZC_STATE_FAILED
} ZcState;

typedef struct ZcDecoder
{
	/* configuration */
	ZcAllocFn	alloc;
	void	   *alloc_arg;
	uint64_t	max_message_len;	/* largest message (or header) accepted */

	/* state */
	ZcState		state;
	uint32_t	ncolumns;
	ZcColumnDesc *columns;		/* ncolumns entries, after ZC_EV_HEADER */
	ZcColumnView *views;		/* ncolumns entries, filled by each batch */
	int64_t    *dict_sizes;		/* per column; -1 while it has none */
	uint64_t	batch_rows;		/* rows of the batch just decoded */
	uint64_t	total_rows;		/* rows of all batches so far */
	uint64_t	batches;		/* batches so far */
	uint64_t	offset;			/* stream bytes consumed so far */
	ZcDictionaryView dict;		/* the dictionary just decoded */
} ZcDecoder;

/* Prepare a decoder; max_message_len bounds the header and each message. */
extern void zc_decoder_init(ZcDecoder *dec, ZcAllocFn alloc, void *alloc_arg,
							uint64_t max_message_len);

/*
 * Decode the next unit of the stream (the header, then one message per
 * call) from buf[0 .. len).  buf must be 8-byte aligned, and must start
 * where the previous unit ended.
 *
 * ZC_OK: *event says what was decoded, *used is its length in bytes.  The
 *   caller consumes *used bytes before the next call.
 * ZC_NEED_MORE: nothing was consumed; *used is how many bytes (counted from
 *   buf) the decoder needs before it can make progress, always > len.
 * ZC_ERROR: err says why; the decoder is failed and stays so.
 */
extern ZcStatus zc_decoder_next(ZcDecoder *dec, const uint8_t *buf, size_t len,
								size_t *used, ZcEvent *event, ZcError *err);

/*
 * Call when the input ends.  ZC_OK if the stream was complete (the end
 * marker was decoded); otherwise ZC_ERROR, and err says what was missing.
 */
extern ZcStatus zc_decoder_finish(const ZcDecoder *dec, size_t pending,
								  ZcError *err);

/* The wire type's name as in docs/FORMAT.md, or NULL for an unknown code. */
extern const char *zc_wire_type_name(int type);

/*
 * The wire type's fixed width in bytes, or 0 for variable-width types and
 * for bitbool (whose values take ceil(n/8) bytes).
 */
extern int	zc_wire_type_width(int type);

/* Does the wire type have offsets and data buffers (utf8, binary, ...)? */
static inline bool
zc_wire_type_is_varlen(int type)
{
	return type == ZC_T_UTF8 || type == ZC_T_BINARY ||
		type == ZC_T_UTF8_32 || type == ZC_T_BINARY_32;
}

/*
 * Row i of a varlen column (utf8, binary, utf8_32, binary_32) of a decoded
 * batch: sets *len and returns where its bytes start.  The decoder has
 * checked the offsets.
 */
static inline const uint8_t *
zc_varlen_value(const ZcColumnView *view, uint64_t i, int64_t *len)
{
	int64_t		start,
				end;

	if (view->offsets32 != NULL)
	{
		start = view->offsets32[i];
		end = view->offsets32[i + 1];
	}
	else
	{
		start = view->offsets[i];
		end = view->offsets[i + 1];
	}
	*len = end - start;
	return view->data + (start - view->data_base);
}

/* Row i of a bitbool column. */
static inline bool
zc_bitbool_value(const ZcColumnView *view, uint64_t i)
{
	return (view->values[i >> 3] >> (i & 7)) & 1;
}

/* "none", "bitmap" or "bytemask", or NULL for an unknown code. */
extern const char *zc_null_encoding_name(int nulls);

/* "s", "ms", "us" or "ns", or NULL for an unknown code. */
extern const char *zc_time_unit_name(int unit);

/* Is row i valid (not NULL) according to the column's null encoding? */
static inline bool
zc_row_valid(const ZcColumnDesc *desc, const ZcColumnView *view, uint64_t i)
{
	if (desc->nulls == ZC_NULLS_BITMAP)
		return (view->validity[i >> 3] >> (i & 7)) & 1;
	if (desc->nulls == ZC_NULLS_BYTEMASK)
		return view->validity[i] == 0;
	return true;
}

/*
 * The null tests of values, one per wire type, shared by the converters
 * and describe().  With ZC_FLAG_SENTINEL_NULL a float's NaN and a
 * timestamp's, timestamptz's or duration's INT64_MIN (NaT) are NULL; a
 * negative dictionary code (-1: the decoder lets no other through) is NULL
 * whatever the flags say, and an unsigned code never is.
 */

/* Is a float32 or float64 value NULL by sentinel (NaN)? */
static inline bool
zc_float_is_null(double v)
{
	return isnan(v);
}

/* Is a timestamp, timestamptz or duration value NULL by sentinel (NaT)? */
static inline bool
zc_time_is_null(int64_t v)
{
	return v == INT64_MIN;
}

/* Is a dictionary code of a signed index type NULL (negative)? */
static inline bool
zc_code_is_null(int64_t code)
{
	return code < 0;
}

/*
 * Is row i of a decoded batch's column NULL: every row of a null column,
 * a row its null encoding marks, or a value that is NULL by the tests
 * above?
 */
static inline bool
zc_row_is_null(const ZcColumnDesc *desc, const ZcColumnView *view, uint64_t i)
{
	bool		sentinel = (desc->flags & ZC_FLAG_SENTINEL_NULL) != 0;

	if (desc->type == ZC_T_NULL)
		return true;
	if (!zc_row_valid(desc, view, i))
		return true;
	switch (desc->type)
	{
		case ZC_T_FLOAT32:
			return sentinel && zc_float_is_null(((const float *) view->values)[i]);
		case ZC_T_FLOAT64:
			return sentinel && zc_float_is_null(((const double *) view->values)[i]);
		case ZC_T_TIMESTAMP:
		case ZC_T_TIMESTAMPTZ:
		case ZC_T_DURATION:
			return sentinel && zc_time_is_null(((const int64_t *) view->values)[i]);
		case ZC_T_DICTIONARY:
			switch (desc->index_type)
			{
				case ZC_T_INT8:
					return zc_code_is_null(((const int8_t *) view->values)[i]);
				case ZC_T_INT16:
					return zc_code_is_null(((const int16_t *) view->values)[i]);
				case ZC_T_INT32:
					return zc_code_is_null(((const int32_t *) view->values)[i]);
				case ZC_T_INT64:
					return zc_code_is_null(((const int64_t *) view->values)[i]);
				default:
					return false;	/* unsigned codes have no NULL code */
			}
		default:
			return false;
	}
}

/* Length of a column's validity buffer of n rows, 0 when it has none. */
extern uint64_t zc_validity_len(const ZcColumnDesc *desc, uint64_t n);

/*
 * Length of a column's values buffer of n rows: its fixed-width values,
 * dictionary codes or the bits of a bitbool column, or the n + 1 offsets of
 * a varlen column (whose data buffer is view->data_len bytes).  0 for a
 * null column.
 */
extern uint64_t zc_values_len(const ZcColumnDesc *desc, uint64_t n);

#endif							/* ZCIMPORT_STREAM_H */
