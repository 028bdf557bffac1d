/*-------------------------------------------------------------------------
 *
 * substream.c
 *	  Re-encode a subset of the rows of a decoded batch as a batch message.
 *
 * The coordinator of a load into a Citus distributed table splits each
 * batch by shard and forwards to each shard's worker a batch message with
 * only that shard's rows.  The worker decodes it with the same src/stream.c,
 * after the original header and dictionary messages, which the coordinator
 * forwards verbatim: so the message written here follows the column
 * descriptors of the original header exactly.  Values, validity (bitmap or
 * byte mask) and dictionary codes are gathered as they are; the offsets of
 * utf8, binary, utf8_32 and binary_32 columns are rebuilt from 0 over the
 * gathered data, which docs/FORMAT.md allows with or without the based
 * offsets flag (offsets[0] = 0 makes both readings the same).
 *
 * This runs on every row of a bulk load, so each column is one tight loop
 * chosen by its type before the rows are visited: fixed-width gathers
 * specialised by width, bit gathers for bitmaps and bitbool columns, and
 * one copy per run of consecutive rows for variable-width data.  Nothing is
 * allocated.
 *
 * The decoder has validated the batch, so nothing here is checked again.
 * The rows must be strictly ascending: then the gathered data of a column
 * is never longer than the original, so 32-bit offsets cannot overflow and
 * the message is never longer than the original batch.
 *
 * Only the C standard library is used here, as in stream.c: this file is
 * compiled into the backend, but also unit-tested (test/c) and fuzzed
 * (test/fuzz) on its own.
 *
 * src/substream.c
 *
 *-------------------------------------------------------------------------
 */
#include "substream.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the zcimport sub-stream encoder writes little-endian data in place and needs a little-endian host"
#endif
#endif


/* ---------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------------
 */

/* Write little-endian integers (the host is little-endian, see above). */
static inline void
put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void
put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Write a message's 16-byte fixed part. */
static inline void
put_message(uint8_t *p, uint32_t kind, uint64_t count)
{
	put_u32(p, kind);
	put_u32(p + 4, 0);
	put_u64(p + 8, count);
}

/*
 * Start a buffer of len bytes at p (8-byte aligned): write its length and
 * zero its padding, whose last 8-byte word is cleared before the bytes are
 * written over its start.  Returns where the bytes go.
 */
static inline uint8_t *
start_buffer(uint8_t *p, uint64_t len)
{
	put_u64(p, len);
	if ((len & 7) != 0)
		*(uint64_t *) (p + 8 + ZC_ALIGN8(len) - 8) = 0;
	return p + 8;
}

/* Width in bytes of a fixed-width column's values or codes (null: 0). */
static inline int
value_width(const ZcColumnDesc *desc)
{
	if (desc->type == ZC_T_DICTIONARY)
		return zc_wire_type_width(desc->index_type);
	return zc_wire_type_width(desc->type);
}

/* Do the column's offsets take 4 bytes (utf8_32, binary_32)? */
static inline bool
has_offsets32(const ZcColumnDesc *desc)
{
	return desc->type == ZC_T_UTF8_32 || desc->type == ZC_T_BINARY_32;
}


/* ---------------------------------------------------------------------------
 * Gathers
 * ---------------------------------------------------------------------------
 */

/* Define a gather of values of one C type: dst[i] = src[rows[i]]. */
#define DEFINE_GATHER(NAME, TYPE) \
static void \
NAME(const uint8_t *src, const uint32_t *restrict rows, uint32_t n, \
	 uint8_t *dst) \
{ \
	const TYPE *restrict s = (const TYPE *) src; \
	TYPE	   *restrict d = (TYPE *) dst; \
	uint32_t	i; \
\
	for (i = 0; i < n; i++) \
		d[i] = s[rows[i]]; \
}

DEFINE_GATHER(gather8, uint8_t)
DEFINE_GATHER(gather16, uint16_t)
DEFINE_GATHER(gather32, uint32_t)
DEFINE_GATHER(gather64, uint64_t)

/* Gather 16-byte values (decimal128) as two 64-bit words each. */
static void
gather128(const uint8_t *src, const uint32_t *restrict rows, uint32_t n,
		  uint8_t *dst)
{
	const uint64_t *restrict s = (const uint64_t *) src;
	uint64_t   *restrict d = (uint64_t *) dst;
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		const uint64_t *v = s + (size_t) rows[i] * 2;

		d[2 * (size_t) i] = v[0];
		d[2 * (size_t) i + 1] = v[1];
	}
}

/* Gather 32-byte values (decimal256) as four 64-bit words each. */
static void
gather256(const uint8_t *src, const uint32_t *restrict rows, uint32_t n,
		  uint8_t *dst)
{
	const uint64_t *restrict s = (const uint64_t *) src;
	uint64_t   *restrict d = (uint64_t *) dst;
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		const uint64_t *v = s + (size_t) rows[i] * 4;
		uint64_t   *o = d + (size_t) i * 4;

		o[0] = v[0];
		o[1] = v[1];
		o[2] = v[2];
		o[3] = v[3];
	}
}

/*
 * Gather bits (a validity bitmap, a bitbool column's values), least
 * significant bit first: bit i of dst is bit rows[i] of src.  The bits of the
 * last byte past n are zero.
 */
static void
gather_bits(const uint8_t *restrict src, const uint32_t *restrict rows,
			uint32_t n, uint8_t *restrict dst)
{
	uint32_t	i = 0;
	uint32_t	j;
	unsigned	byte;

	for (; i + 8 <= n; i += 8)
	{
		byte = 0;
		for (j = 0; j < 8; j++)
		{
			uint32_t	r = rows[i + j];

			byte |= ((unsigned) (src[r >> 3] >> (r & 7)) & 1u) << j;
		}
		dst[i >> 3] = (uint8_t) byte;
	}
	if (i < n)
	{
		byte = 0;
		for (j = 0; i + j < n; j++)
		{
			uint32_t	r = rows[i + j];

			byte |= ((unsigned) (src[r >> 3] >> (r & 7)) & 1u) << j;
		}
		dst[i >> 3] = (uint8_t) byte;
	}
}

/* Gather n fixed-width values of width bytes (1, 2, 4, 8, 16 or 32). */
static void
gather_fixed(int width, const uint8_t *src, const uint32_t *rows,
			 uint32_t n, uint8_t *dst)
{
	switch (width)
	{
		case 1:
			gather8(src, rows, n, dst);
			break;
		case 2:
			gather16(src, rows, n, dst);
			break;
		case 4:
			gather32(src, rows, n, dst);
			break;
		case 8:
			gather64(src, rows, n, dst);
			break;
		case 16:
			gather128(src, rows, n, dst);
			break;
		case 32:
			gather256(src, rows, n, dst);
			break;
		default:
			/* width 0: the null type has no values */
			break;
	}
}

/* Total length of the values of rows[0 .. n) of a 64-bit offsets column. */
static uint64_t
data_len64(const int64_t *restrict o, const uint32_t *restrict rows,
		   uint32_t n)
{
	uint64_t	total = 0;
	uint32_t	i;

	for (i = 0; i < n; i++)
		total += (uint64_t) (o[rows[i] + 1] - o[rows[i]]);
	return total;
}

/* The same for 32-bit offsets. */
static uint64_t
data_len32(const int32_t *restrict o, const uint32_t *restrict rows,
		   uint32_t n)
{
	uint64_t	total = 0;
	uint32_t	i;

	for (i = 0; i < n; i++)
		total += (uint32_t) (o[rows[i] + 1] - o[rows[i]]);
	return total;
}

/*
 * Define the gather of a varlen column with offsets of type OTYPE: write the
 * n + 1 new offsets (from 0) to doff and the values' bytes to ddata, one
 * copy per run of consecutive rows; return the data's length.  Within a run
 * starting at row r0, a new offset is the old one minus (o[r0] - written).
 */
#define DEFINE_GATHER_VARLEN(NAME, OTYPE) \
static uint64_t \
NAME(const OTYPE *restrict o, const uint8_t *data, int64_t data_base, \
	 const uint32_t *restrict rows, uint32_t n, OTYPE *restrict doff, \
	 uint8_t *ddata) \
{ \
	uint64_t	written = 0; \
	uint32_t	i = 0; \
\
	doff[0] = 0; \
	while (i < n) \
	{ \
		uint32_t	r0 = rows[i]; \
		uint32_t	r = r0; \
		int64_t		shift = (int64_t) o[r0] - (int64_t) written; \
		uint64_t	len; \
\
		do \
		{ \
			doff[i + 1] = (OTYPE) ((int64_t) o[r + 1] - shift); \
			i++; \
			r++; \
		} while (i < n && rows[i] == r); \
		len = (uint64_t) ((int64_t) o[r] - (int64_t) o[r0]); \
		if (len > 0) \
			memcpy(ddata + written, data + ((int64_t) o[r0] - data_base), \
				   (size_t) len); \
		written += len; \
	} \
	return written; \
}

DEFINE_GATHER_VARLEN(gather_varlen64, int64_t)
DEFINE_GATHER_VARLEN(gather_varlen32, int32_t)


/* ---------------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------------
 */

/*
 * Length of the batch message holding rows rows[0 .. n) of dec's current
 * batch: the fixed part, then per column its validity buffer (if any) and
 * its values buffer, or its offsets and data buffers.
 */
uint64_t
zc_substream_batch_len(const ZcDecoder *dec, const uint32_t *rows, uint32_t n)
{
	uint64_t	total = ZC_MESSAGE_FIXED_LEN;
	uint32_t	c;

	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *desc = &dec->columns[c];
		const ZcColumnView *view = &dec->views[c];

		if (desc->nulls != ZC_NULLS_NONE)
			total += 8 + ZC_ALIGN8(zc_validity_len(desc, n));
		if (zc_wire_type_is_varlen(desc->type))
		{
			uint64_t	dlen;

			if (has_offsets32(desc))
			{
				dlen = data_len32(view->offsets32, rows, n);
				total += 8 + ZC_ALIGN8(((uint64_t) n + 1) * 4);
			}
			else
			{
				dlen = data_len64(view->offsets, rows, n);
				total += 8 + ZC_ALIGN8(((uint64_t) n + 1) * 8);
			}
			total += 8 + ZC_ALIGN8(dlen);
		}
		else if (desc->type == ZC_T_BITBOOL)
			total += 8 + ZC_ALIGN8(((uint64_t) n + 7) / 8);
		else
			total += 8 + ZC_ALIGN8((uint64_t) n * value_width(desc));
	}
	return total;
}

/*
 * Write the offsets and data buffers of a varlen column at p; return where
 * the next buffer goes.  The data buffer's length is known only once the
 * values are copied, so its prefix is written last.
 */
static uint8_t *
write_varlen(const ZcColumnDesc *desc, const ZcColumnView *view,
			 const uint32_t *rows, uint32_t n, uint8_t *p)
{
	int			ow = has_offsets32(desc) ? 4 : 8;
	uint64_t	olen = ((uint64_t) n + 1) * ow;
	uint8_t    *offs = start_buffer(p, olen);
	uint8_t    *dprefix = offs + ZC_ALIGN8(olen);
	uint8_t    *ddata = dprefix + 8;
	uint64_t	dlen;

	if (ow == 4)
		dlen = gather_varlen32(view->offsets32, view->data, view->data_base,
							   rows, n, (int32_t *) offs, ddata);
	else
		dlen = gather_varlen64(view->offsets, view->data, view->data_base,
							   rows, n, (int64_t *) offs, ddata);
	put_u64(dprefix, dlen);
	memset(ddata + dlen, 0, (size_t) (ZC_ALIGN8(dlen) - dlen));
	return ddata + ZC_ALIGN8(dlen);
}

/* Write the batch message holding rows rows[0 .. n) of dec's batch to out. */
void
zc_substream_write_batch(const ZcDecoder *dec, const uint32_t *rows,
						 uint32_t n, uint8_t *out)
{
	uint8_t    *p = out;
	uint32_t	c;

	put_message(p, ZC_MSG_BATCH, n);
	p += ZC_MESSAGE_FIXED_LEN;

	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *desc = &dec->columns[c];
		const ZcColumnView *view = &dec->views[c];
		uint64_t	len;
		uint8_t    *dst;

		/* the validity buffer: a bit gather or a byte gather */
		if (desc->nulls == ZC_NULLS_BITMAP)
		{
			len = ((uint64_t) n + 7) / 8;
			dst = start_buffer(p, len);
			gather_bits(view->validity, rows, n, dst);
			p = dst + ZC_ALIGN8(len);
		}
		else if (desc->nulls == ZC_NULLS_BYTEMASK)
		{
			len = n;
			dst = start_buffer(p, len);
			gather8(view->validity, rows, n, dst);
			p = dst + ZC_ALIGN8(len);
		}

		/* the values, codes, or offsets and data */
		if (zc_wire_type_is_varlen(desc->type))
			p = write_varlen(desc, view, rows, n, p);
		else if (desc->type == ZC_T_BITBOOL)
		{
			len = ((uint64_t) n + 7) / 8;
			dst = start_buffer(p, len);
			gather_bits(view->values, rows, n, dst);
			p = dst + ZC_ALIGN8(len);
		}
		else
		{
			int			width = value_width(desc);

			len = (uint64_t) n * width;
			dst = start_buffer(p, len);
			gather_fixed(width, view->values, rows, n, dst);
			p = dst + ZC_ALIGN8(len);
		}
	}
}

/* Write the end marker of a sub-stream that carried total_rows rows. */
void
zc_substream_write_end(uint64_t total_rows, uint8_t *out)
{
	put_message(out, ZC_MSG_END, total_rows);
}
