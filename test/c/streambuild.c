/*-------------------------------------------------------------------------
 *
 * streambuild.c
 *	  Build zcimport streams (docs/FORMAT.md) in memory, for the decoder's
 *	  unit tests and the fuzzer's seed corpus.
 *
 * test/c/streambuild.c
 *
 *-------------------------------------------------------------------------
 */
#include "streambuild.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

/* Start with an empty buffer. */
void
sb_init(SbBuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Release the buffer's memory. */
void
sb_free(SbBuf *b)
{
	free(b->data);
	sb_init(b);
}

/* Forget the contents but keep the memory. */
void
sb_reset(SbBuf *b)
{
	b->len = 0;
}

/* Make room for n more bytes; malloc's alignment is at least 8. */
static void
sb_reserve(SbBuf *b, size_t n)
{
	size_t		cap;
	uint8_t    *data;

	if (b->cap - b->len >= n)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	data = realloc(b->data, cap);
	if (data == NULL)
	{
		fprintf(stderr, "streambuild: out of memory\n");
		abort();
	}
	b->data = data;
	b->cap = cap;
}

/* Append n bytes. */
void
sb_put(SbBuf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	sb_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Append n zero bytes. */
void
sb_zeros(SbBuf *b, size_t n)
{
	if (n == 0)
		return;
	sb_reserve(b, n);
	memset(b->data + b->len, 0, n);
	b->len += n;
}

/* Append little-endian integers (the tests run on little-endian hosts). */
void
sb_u8(SbBuf *b, uint8_t v)
{
	sb_put(b, &v, 1);
}

void
sb_u16(SbBuf *b, uint16_t v)
{
	sb_put(b, &v, 2);
}

void
sb_u32(SbBuf *b, uint32_t v)
{
	sb_put(b, &v, 4);
}

void
sb_u64(SbBuf *b, uint64_t v)
{
	sb_put(b, &v, 8);
}

/* Zero-pad to a multiple of 8. */
void
sb_pad8(SbBuf *b)
{
	sb_zeros(b, (size_t) (ZC_ALIGN8(b->len) - b->len));
}

/* Overwrite integers at a position already written. */
void
sb_set_u8(SbBuf *b, size_t at, uint8_t v)
{
	memcpy(b->data + at, &v, 1);
}

void
sb_set_u16(SbBuf *b, size_t at, uint16_t v)
{
	memcpy(b->data + at, &v, 2);
}

void
sb_set_u32(SbBuf *b, size_t at, uint32_t v)
{
	memcpy(b->data + at, &v, 4);
}

void
sb_set_u64(SbBuf *b, size_t at, uint64_t v)
{
	memcpy(b->data + at, &v, 8);
}

/* A column descriptor, padded; returns its length. */
size_t
sb_descriptor(SbBuf *b, const SbColumn *col)
{
	size_t		start = b->len;
	size_t		name_len = col->name ? strlen(col->name) : 0;
	size_t		tz_len = col->tz ? strlen(col->tz) : 0;

	sb_u8(b, col->type);
	sb_u8(b, col->nulls);
	sb_u8(b, col->flags);
	sb_u8(b, col->unit);
	sb_u8(b, col->index_type);
	sb_u8(b, col->value_type);
	sb_u16(b, (uint16_t) name_len);
	sb_u16(b, (uint16_t) tz_len);
	sb_u16(b, 0);
	sb_put(b, col->name, name_len);
	sb_put(b, col->tz, tz_len);
	sb_pad8(b);
	return b->len - start;
}

/* The header with its column descriptors; returns its length. */
size_t
sb_header(SbBuf *b, uint32_t ncolumns, const SbColumn *cols)
{
	size_t		start = b->len;
	size_t		len = ZC_HEADER_FIXED_LEN;
	uint32_t	i;

	for (i = 0; i < ncolumns; i++)
	{
		size_t		n = ZC_DESC_FIXED_LEN;

		n += cols[i].name ? strlen(cols[i].name) : 0;
		n += cols[i].tz ? strlen(cols[i].tz) : 0;
		len += (size_t) ZC_ALIGN8(n);
	}
	sb_put(b, zc_magic, ZC_MAGIC_LEN);
	sb_u16(b, ZC_VERSION);
	sb_u8(b, ZC_BYTE_ORDER_LITTLE);
	sb_u8(b, 0);
	sb_u32(b, ncolumns);
	sb_u32(b, (uint32_t) len);
	sb_u32(b, 0);
	for (i = 0; i < ncolumns; i++)
		sb_descriptor(b, &cols[i]);
	return b->len - start;
}

/* A message's fixed part. */
void
sb_message(SbBuf *b, uint32_t kind, uint32_t column, uint64_t count)
{
	sb_u32(b, kind);
	sb_u32(b, column);
	sb_u64(b, count);
}

/* A batch's fixed part; its buffers follow. */
void
sb_batch(SbBuf *b, uint64_t rows)
{
	sb_message(b, ZC_MSG_BATCH, 0, rows);
}

/* The end marker. */
void
sb_end(SbBuf *b, uint64_t total_rows)
{
	sb_message(b, ZC_MSG_END, 0, total_rows);
}

/* One buffer: length, bytes, padding. */
void
sb_buffer(SbBuf *b, const void *p, uint64_t len)
{
	sb_u64(b, len);
	sb_put(b, p, (size_t) len);
	sb_pad8(b);
}

/* The validity buffer of n rows (nothing without a null encoding). */
void
sb_validity(SbBuf *b, uint8_t nulls, const bool *valid, size_t n)
{
	size_t		i;

	if (nulls == ZC_NULLS_BITMAP)
	{
		size_t		nbytes = (n + 7) / 8;

		sb_u64(b, nbytes);
		for (i = 0; i < nbytes; i++)
		{
			uint8_t		byte = 0;
			size_t		j;

			for (j = 0; j < 8 && i * 8 + j < n; j++)
				if (valid == NULL || valid[i * 8 + j])
					byte |= (uint8_t) (1u << j);
			/* bits past n are ignored: set them to prove it */
			for (; j < 8; j++)
				byte |= (uint8_t) (1u << j);
			sb_u8(b, byte);
		}
		sb_pad8(b);
	}
	else if (nulls == ZC_NULLS_BYTEMASK)
	{
		sb_u64(b, n);
		for (i = 0; i < n; i++)
			sb_u8(b, (valid == NULL || valid[i]) ? 0 : (uint8_t) (1 + i % 3));
		sb_pad8(b);
	}
}

/*
 * Offsets and data buffers of n byte strings, the first one starting at
 * offset first: the data buffer begins with first bytes (0xff, not UTF-8)
 * that belong to no value, as in a slice of an Arrow array.
 */
void
sb_binaries_from(SbBuf *b, const void *const *values, const size_t *lens,
				 size_t n, uint64_t first)
{
	size_t		i;
	int64_t		off = (int64_t) first;

	sb_u64(b, (uint64_t) (n + 1) * 8);
	sb_u64(b, (uint64_t) off);
	for (i = 0; i < n; i++)
	{
		off += (int64_t) lens[i];
		sb_u64(b, (uint64_t) off);
	}
	sb_u64(b, (uint64_t) off);
	for (i = 0; i < first; i++)
		sb_u8(b, 0xff);
	for (i = 0; i < n; i++)
		sb_put(b, values[i], lens[i]);
	sb_pad8(b);
}

/*
 * Offsets (of owidth 8 or 4 bytes) and data buffers of n byte strings, the
 * first one at offset first.  With based set (ZC_FLAG_BASED_OFFSETS), the
 * data buffer starts at offsets[0]; otherwise it begins with first filler
 * bytes (0xff) that belong to no value.
 */
void
sb_varlen_from(SbBuf *b, int owidth, bool based, const void *const *values,
			   const size_t *lens, size_t n, uint64_t first)
{
	size_t		i;
	int64_t		off = (int64_t) first;

	sb_u64(b, (uint64_t) (n + 1) * (uint64_t) owidth);
	for (i = 0; i <= n; i++)
	{
		if (owidth == 4)
			sb_u32(b, (uint32_t) off);
		else
			sb_u64(b, (uint64_t) off);
		if (i < n)
			off += (int64_t) lens[i];
	}
	sb_pad8(b);
	sb_u64(b, (uint64_t) (off - (based ? (int64_t) first : 0)));
	if (!based)
		for (i = 0; i < first; i++)
			sb_u8(b, 0xff);
	for (i = 0; i < n; i++)
		sb_put(b, values[i], lens[i]);
	sb_pad8(b);
}

/* Offsets and data buffers of n byte strings. */
void
sb_binaries(SbBuf *b, const void *const *values, const size_t *lens,
			size_t n)
{
	sb_binaries_from(b, values, lens, n, 0);
}

/* As sb_strings(), with the first string at offset first of the data. */
void
sb_strings_from(SbBuf *b, const char *const *values, size_t n,
				uint64_t first)
{
	const void **ptrs = calloc(n + 1, sizeof(void *));
	size_t	   *lens = calloc(n + 1, sizeof(size_t));
	size_t		i;

	if (ptrs == NULL || lens == NULL)
		abort();
	for (i = 0; i < n; i++)
	{
		ptrs[i] = values[i] ? values[i] : "";
		lens[i] = values[i] ? strlen(values[i]) : 0;
	}
	sb_binaries_from(b, ptrs, lens, n, first);
	free(ptrs);
	free(lens);
}

/* Offsets and data buffers of n strings; NULL entries are empty. */
void
sb_strings(SbBuf *b, const char *const *values, size_t n)
{
	sb_strings_from(b, values, n, 0);
}

/* A whole dictionary message, its first entry at offset first. */
void
sb_dictionary_from(SbBuf *b, uint32_t column, const char *const *entries,
				   size_t n, uint64_t first)
{
	sb_message(b, ZC_MSG_DICTIONARY, column, n);
	sb_strings_from(b, entries, n, first);
}

/* A whole dictionary message. */
void
sb_dictionary(SbBuf *b, uint32_t column, const char *const *entries,
			  size_t n)
{
	sb_dictionary_from(b, column, entries, n, 0);
}


/* ---------------------------------------------------------------------------
 * Sample streams
 * ---------------------------------------------------------------------------
 */

/*
 * Fill in what a column of type t needs to be valid besides its type: the
 * unit of time types, a dictionary's index and value types, a decimal's
 * precision and scale.  Fields already set are kept.
 */
void
sb_complete_column(SbColumn *col)
{
	switch (col->type)
	{
		case ZC_T_TIME32:
			if (col->unit > ZC_UNIT_MS)
				col->unit = ZC_UNIT_MS;
			break;
		case ZC_T_TIME64:
			if (col->unit < ZC_UNIT_US || col->unit > ZC_UNIT_NS)
				col->unit = ZC_UNIT_NS;
			break;
		case ZC_T_DECIMAL128:
			if (col->index_type < 1 || col->index_type > 38)
				col->index_type = 38;
			break;
		case ZC_T_DECIMAL256:
			if (col->index_type < 1 || col->index_type > 76)
				col->index_type = 76;
			break;
		case ZC_T_DICTIONARY:
			if (col->index_type < ZC_T_INT8 || col->index_type > ZC_T_UINT64)
				col->index_type = ZC_T_INT32;
			col->value_type = ZC_T_UTF8;
			break;
		default:
			break;
	}
}

/* Deterministic validity pattern of the sample data. */
static bool
sample_valid(const SbColumn *col, size_t i, unsigned seed)
{
	if (col->nulls == ZC_NULLS_NONE)
		return true;
	return (i * 7 + seed) % 5 != 0;
}

/*
 * Append one column's buffers of n rows of deterministic sample data.  For a
 * dictionary column, codes cycle through dict_size entries (all NULL when it
 * is 0); NULL rows hold garbage codes, which the decoder must not inspect.
 * The strings of a utf8 or binary column start at offset first of its data.
 */
static void
sample_column(SbBuf *b, const SbColumn *col, size_t n, unsigned seed,
			  size_t dict_size, uint64_t first)
{
	bool	   *valid = calloc(n + 1, sizeof(bool));
	SbBuf		v;
	size_t		i;
	bool		sentinel = (col->flags & ZC_FLAG_SENTINEL_NULL) != 0;

	if (valid == NULL)
		abort();
	for (i = 0; i < n; i++)
		valid[i] = sample_valid(col, i, seed);
	sb_validity(b, col->nulls, valid, n);

	sb_init(&v);
	for (i = 0; i < n; i++)
	{
		uint64_t	x = (uint64_t) i * 2654435761u + seed * 40503u;

		switch (col->type)
		{
			case ZC_T_BOOL:
				sb_u8(&v, (uint8_t) (x % 3));	/* 2 is true too */
				break;
			case ZC_T_INT8:
			case ZC_T_UINT8:
				sb_u8(&v, (uint8_t) (i == 1 ? 0x80 : x));
				break;
			case ZC_T_INT16:
			case ZC_T_UINT16:
				sb_u16(&v, (uint16_t) (i == 1 ? 0x8000 : x));
				break;
			case ZC_T_INT32:
			case ZC_T_UINT32:
			case ZC_T_DATE32:
				sb_u32(&v, (uint32_t) (i == 1 ? 0x80000000u : x));
				break;
			case ZC_T_INT64:
			case ZC_T_UINT64:
			case ZC_T_DATE64:
				sb_u64(&v, i == 1 ? (uint64_t) 1 << 63 : x);
				break;
			case ZC_T_TIME32:
				sb_u32(&v, (uint32_t) (x % 86400001u));
				break;
			case ZC_T_TIME64:
				sb_u64(&v, x * 1000003u % 86400000000001u);
				break;
			case ZC_T_BITBOOL:
				if (i % 8 == 0)
					sb_u8(&v, (uint8_t) (x ^ (x >> 8)));
				break;
			case ZC_T_DECIMAL128:
			case ZC_T_DECIMAL256:
				{
					/* sign-extended, so that negative values occur */
					int			w = zc_wire_type_width(col->type);
					uint64_t	lo = i == 1 ? (uint64_t) 1 << 63 : x * 0x9E3779B97F4A7C15u;
					uint64_t	ext = (x & 1) ? UINT64_MAX : 0;
					int			k;

					sb_u64(&v, lo);
					for (k = 8; k < w; k += 8)
						sb_u64(&v, ext);
				}
				break;
			case ZC_T_FLOAT32:
				{
					float		f = sentinel && i % 4 == 3 ? NAN :
						(float) i * 1.5f - (float) seed;

					sb_put(&v, &f, 4);
				}
				break;
			case ZC_T_FLOAT64:
				{
					double		d = sentinel && i % 4 == 3 ? NAN :
						(double) i * 2.25 - (double) seed;

					sb_put(&v, &d, 8);
				}
				break;
			case ZC_T_TIMESTAMP:
			case ZC_T_TIMESTAMPTZ:
			case ZC_T_DURATION:
				sb_u64(&v, sentinel && i % 4 == 3 ? (uint64_t) 1 << 63 :
					   x * 1000003u);
				break;
			case ZC_T_DICTIONARY:
				{
					int64_t		code;

					if (!valid[i])
						code = 99 + (int64_t) i;	/* not inspected */
					else if (col->index_type >= ZC_T_UINT8)
						code = dict_size == 0 ? 0 : (int64_t) (x % dict_size);
					else if (dict_size == 0 || x % 4 == 1)
						code = -1;
					else
						code = (int64_t) (x % dict_size);
					switch (zc_wire_type_width(col->index_type))
					{
						case 1:
							sb_u8(&v, (uint8_t) code);
							break;
						case 2:
							sb_u16(&v, (uint16_t) code);
							break;
						case 4:
							sb_u32(&v, (uint32_t) code);
							break;
						default:
							sb_u64(&v, (uint64_t) code);
							break;
					}
				}
				break;
			default:
				break;
		}
	}

	if (zc_wire_type_is_varlen(col->type))
	{
		static const char *const words[] = {
			"", "a", "zcimport", "caf\xc3\xa9", "\xe2\x82\xac 12",
			"a longer value that spans a few words"
		};
		const void **ptrs = calloc(n + 1, sizeof(void *));
		size_t	   *lens = calloc(n + 1, sizeof(size_t));
		static const uint8_t bin[] = {0, 1, 2, 0xff, 0, 0x80, 7};

		if (ptrs == NULL || lens == NULL)
			abort();
		for (i = 0; i < n; i++)
		{
			if (col->type == ZC_T_UTF8 || col->type == ZC_T_UTF8_32)
			{
				ptrs[i] = words[(i + seed) % 6];
				lens[i] = strlen(words[(i + seed) % 6]);
			}
			else
			{
				ptrs[i] = bin;
				lens[i] = (i + seed) % (sizeof(bin) + 1);
			}
		}
		sb_varlen_from(b,
					   col->type == ZC_T_UTF8_32 || col->type == ZC_T_BINARY_32 ? 4 : 8,
					   (col->flags & ZC_FLAG_BASED_OFFSETS) != 0,
					   ptrs, lens, n, first);
		free(ptrs);
		free(lens);
	}
	else
		sb_buffer(b, v.data, v.len);
	sb_free(&v);
	free(valid);
}

/*
 * Append a batch of n rows of sample data for all columns, the strings of
 * utf8 and binary columns starting at offset first of their data.
 */
static void
sample_batch_from(SbBuf *b, uint32_t ncols, const SbColumn *cols, size_t n,
				  unsigned seed, const size_t *dict_sizes, uint64_t first)
{
	uint32_t	c;

	sb_batch(b, n);
	for (c = 0; c < ncols; c++)
		sample_column(b, &cols[c], n, seed + c,
					  dict_sizes ? dict_sizes[c] : 0, first);
}

/* Append a batch of n rows of sample data for all columns. */
static void
sample_batch(SbBuf *b, uint32_t ncols, const SbColumn *cols, size_t n,
			 unsigned seed, const size_t *dict_sizes)
{
	sample_batch_from(b, ncols, cols, n, seed, dict_sizes, 0);
}

/* One column of each wire type, with a null encoding. */
static void
every_type_columns(SbColumn *cols, uint8_t nulls)
{
	int			t;

	memset(cols, 0, sizeof(SbColumn) * ZC_T_MAX);
	for (t = 1; t <= ZC_T_MAX; t++)
	{
		SbColumn   *col = &cols[t - 1];

		col->type = (uint8_t) t;
		col->nulls = nulls;
		col->name = zc_wire_type_name(t);
		if (t == ZC_T_TIMESTAMP || t == ZC_T_TIMESTAMPTZ ||
			t == ZC_T_DURATION)
			col->unit = (uint8_t) (t - ZC_T_TIMESTAMP + 1);
		if (t == ZC_T_TIMESTAMPTZ)
			col->tz = "UTC";
		if (t == ZC_T_DICTIONARY)
		{
			col->index_type = ZC_T_INT32;
			col->value_type = ZC_T_UTF8;
		}
		if (t == ZC_T_TIME32)
			col->unit = ZC_UNIT_MS;
		if (t == ZC_T_TIME64)
			col->unit = (uint8_t) (nulls == ZC_NULLS_BITMAP ? ZC_UNIT_US : ZC_UNIT_NS);
		if (t == ZC_T_DECIMAL128)
		{
			col->index_type = 38;
			col->value_type = 2;
		}
		if (t == ZC_T_DECIMAL256)
		{
			col->index_type = 76;
			col->value_type = (uint8_t) -3;
		}
		/* based offsets on the 32-bit string types under one encoding */
		if ((t == ZC_T_UTF8_32 || t == ZC_T_BINARY_32) &&
			nulls != ZC_NULLS_NONE)
			col->flags = ZC_FLAG_BASED_OFFSETS;
		if (t == ZC_T_UTF8 && nulls == ZC_NULLS_BYTEMASK)
			col->flags = ZC_FLAG_BASED_OFFSETS;
	}
}

/* The example stream of docs/FORMAT.md, byte for byte. */
const uint8_t sb_format_example[SB_FORMAT_EXAMPLE_LEN] = {
	0x89, 0x5A, 0x43, 0x49, 0x0D, 0x0A, 0x1A, 0x0A,
	0x01, 0x00, 0x4C, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x0B, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x61, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x7F,
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};

/* Build the sample streams and hand each to emit. */
int
sb_sample_streams(SbEmitFn emit, void *arg)
{
	static const char *const colors[] = {"red", "green", "blue"};
	static const char *const sizes[] = {"S", "M", "L", "XL", ""};
	SbColumn	cols[64];
	size_t		dict_sizes[64];
	SbBuf		b;
	int			count = 0;
	uint8_t		nulls;
	int			i;

	sb_init(&b);

	/* the example of docs/FORMAT.md */
	emit(arg, "example", sb_format_example, sizeof(sb_format_example));
	count++;

	/* the empty stream: header and end marker */
	memset(cols, 0, sizeof(cols));
	cols[0].type = ZC_T_INT64;
	cols[0].name = "x";
	sb_header(&b, 1, cols);
	sb_end(&b, 0);
	emit(arg, "empty", b.data, b.len);
	count++;

	/* one zero-row batch */
	sb_reset(&b);
	sb_header(&b, 1, cols);
	sample_batch(&b, 1, cols, 0, 0, NULL);
	sb_end(&b, 0);
	emit(arg, "zero_rows", b.data, b.len);
	count++;

	/* every wire type, under every null encoding, over several batches */
	for (nulls = ZC_NULLS_NONE; nulls <= ZC_NULLS_BYTEMASK; nulls++)
	{
		static const char *const names[] = {
			"every_type_none", "every_type_bitmap", "every_type_bytemask"
		};

		sb_reset(&b);
		every_type_columns(cols, nulls);
		memset(dict_sizes, 0, sizeof(dict_sizes));
		sb_header(&b, ZC_T_MAX, cols);
		sb_dictionary(&b, ZC_T_DICTIONARY - 1, colors, 3);
		dict_sizes[ZC_T_DICTIONARY - 1] = 3;
		sample_batch(&b, ZC_T_MAX, cols, 11, 1, dict_sizes);
		sample_batch(&b, ZC_T_MAX, cols, 0, 2, dict_sizes);
		sample_batch(&b, ZC_T_MAX, cols, 3, 3, dict_sizes);
		sb_end(&b, 14);
		emit(arg, names[nulls], b.data, b.len);
		count++;
	}

	/* sentinel NULLs on every type that allows them */
	sb_reset(&b);
	memset(cols, 0, sizeof(cols));
	cols[0].type = ZC_T_FLOAT32;
	cols[1].type = ZC_T_FLOAT64;
	cols[1].nulls = ZC_NULLS_BITMAP;
	cols[2].type = ZC_T_TIMESTAMP;
	cols[2].unit = ZC_UNIT_NS;
	cols[3].type = ZC_T_TIMESTAMPTZ;
	cols[3].unit = ZC_UNIT_US;
	cols[3].tz = "Europe/Berlin";
	cols[3].nulls = ZC_NULLS_BYTEMASK;
	cols[4].type = ZC_T_DURATION;
	cols[4].unit = ZC_UNIT_S;
	for (i = 0; i < 5; i++)
	{
		cols[i].flags = ZC_FLAG_SENTINEL_NULL;
		cols[i].name = zc_wire_type_name(cols[i].type);
	}
	sb_header(&b, 5, cols);
	sample_batch(&b, 5, cols, 9, 0, NULL);
	sb_end(&b, 9);
	emit(arg, "sentinels", b.data, b.len);
	count++;

	/*
	 * Dictionaries of every index type: dictionary, batch, replaced
	 * dictionary, batch; the last column never gets one (all codes NULL).
	 */
	sb_reset(&b);
	memset(cols, 0, sizeof(cols));
	memset(dict_sizes, 0, sizeof(dict_sizes));
	for (i = 0; i < 5; i++)
	{
		cols[i].type = ZC_T_DICTIONARY;
		cols[i].value_type = ZC_T_UTF8;
		cols[i].index_type = (uint8_t) (ZC_T_INT8 + i % 4);
		cols[i].nulls = (uint8_t) (i % 3);
		cols[i].name = "category";
	}
	sb_header(&b, 5, cols);
	for (i = 0; i < 4; i++)
	{
		sb_dictionary(&b, (uint32_t) i, colors, 3);
		dict_sizes[i] = 3;
	}
	sample_batch(&b, 5, cols, 10, 0, dict_sizes);
	sb_dictionary(&b, 1, sizes, 5);
	dict_sizes[1] = 5;
	sb_dictionary(&b, 2, sizes, 0);
	dict_sizes[2] = 0;
	sample_batch(&b, 5, cols, 12, 1, dict_sizes);
	sb_end(&b, 22);
	emit(arg, "dictionaries", b.data, b.len);
	count++;

	/* many batches of varying sizes, one of them empty */
	sb_reset(&b);
	memset(cols, 0, sizeof(cols));
	cols[0].type = ZC_T_INT32;
	cols[0].name = "id";
	cols[1].type = ZC_T_UTF8;
	cols[1].nulls = ZC_NULLS_BITMAP;
	cols[1].name = "label";
	sb_header(&b, 2, cols);
	{
		static const size_t rows[] = {1, 7, 0, 8, 9, 2};
		uint64_t	total = 0;

		for (i = 0; i < 6; i++)
		{
			sample_batch(&b, 2, cols, rows[i], (unsigned) i, NULL);
			total += rows[i];
		}
		sb_end(&b, total);
	}
	emit(arg, "many_batches", b.data, b.len);
	count++;

	/* a wide frame: 64 columns of mixed types */
	sb_reset(&b);
	memset(cols, 0, sizeof(cols));
	memset(dict_sizes, 0, sizeof(dict_sizes));
	for (i = 0; i < 64; i++)
	{
		int			t = 1 + i % ZC_T_MAX;

		cols[i].type = (uint8_t) t;
		cols[i].nulls = (uint8_t) (i % 3);
		cols[i].name = i % 2 ? "c\xc3\xb6l" : "\xe5\x88\x97";
		if (t == ZC_T_DICTIONARY)
		{
			cols[i].index_type = ZC_T_INT16;
			cols[i].value_type = ZC_T_UTF8;
		}
		if (t == ZC_T_TIMESTAMP || t == ZC_T_TIMESTAMPTZ ||
			t == ZC_T_DURATION)
			cols[i].unit = ZC_UNIT_MS;
		sb_complete_column(&cols[i]);
	}
	sb_header(&b, 64, cols);
	for (i = 0; i < 64; i++)
		if (cols[i].type == ZC_T_DICTIONARY)
		{
			sb_dictionary(&b, (uint32_t) i, sizes, 5);
			dict_sizes[i] = 5;
		}
	sample_batch(&b, 64, cols, 5, 7, dict_sizes);
	sb_end(&b, 5);
	emit(arg, "wide", b.data, b.len);
	count++;

	sb_free(&b);
	return count;
}

/*
 * Hand a block stream to emit under the name "block_<what>_<rows>", after
 * checking that it fits the fuzzer.
 */
static void
emit_block(SbEmitFn emit, void *arg, const SbBuf *b, const char *what,
		   size_t rows)
{
	char		name[64];

	snprintf(name, sizeof(name), "block_%s_%zu", what, rows);
	if (b->len > SB_BLOCK_MAX_LEN)
	{
		fprintf(stderr, "streambuild: block stream %s has %zu bytes, more than %d\n",
				name, b->len, SB_BLOCK_MAX_LEN);
		abort();
	}
	emit(arg, name, b->data, b->len);
}

/*
 * Build the block streams (see streambuild.h) and hand each to emit.
 * Returns how many.
 */
int
sb_block_streams(SbEmitFn emit, void *arg)
{
	static const size_t every_rows[] = {16, 17, 31, 33};
	static const uint8_t narrow[] = {
		ZC_T_BOOL, ZC_T_INT8, ZC_T_INT16, ZC_T_INT32, ZC_T_UINT8,
		ZC_T_UINT16, ZC_T_UINT32, ZC_T_FLOAT32, ZC_T_DATE32, ZC_T_NULL
	};
	static const uint8_t wide[] = {
		ZC_T_INT64, ZC_T_UINT64, ZC_T_FLOAT64, ZC_T_TIMESTAMP,
		ZC_T_TIMESTAMPTZ, ZC_T_DURATION
	};
	static const size_t dict_entries[] = {3, 17, 20, 33};
	static const size_t dict_rows[] = {16, 33};
	char		entry_text[100][16];
	const char *entries[100];
	char		what[32];
	SbColumn	cols[ZC_T_MAX];
	size_t		dict_sizes[ZC_T_MAX];
	SbBuf		b;
	int			count = 0;
	uint8_t		nulls;
	size_t		r;
	int			i;

	for (i = 0; i < 100; i++)
	{
		snprintf(entry_text[i], sizeof(entry_text[i]), "e%d", i);
		entries[i] = entry_text[i];
	}
	sb_init(&b);

	for (nulls = ZC_NULLS_NONE; nulls <= ZC_NULLS_BYTEMASK; nulls++)
	{
		const char *nname = zc_null_encoding_name(nulls);

		/*
		 * Every wire type in one batch of 16, 17, 31 or 33 rows: exactly one
		 * block, one block and a row, and around two blocks.  The dictionary
		 * has 20 entries and codes of int8, int16, int32 or int64; strings
		 * start at offset 0, 5, 10 or 15 of their data.
		 */
		for (r = 0; r < sizeof(every_rows) / sizeof(every_rows[0]); r++)
		{
			/* the types up to null here; the later ones in "arrow" below */
			sb_reset(&b);
			every_type_columns(cols, nulls);
			cols[ZC_T_DICTIONARY - 1].index_type = (uint8_t) (ZC_T_INT8 + r);
			memset(dict_sizes, 0, sizeof(dict_sizes));
			sb_header(&b, ZC_T_NULL, cols);
			sb_dictionary_from(&b, ZC_T_DICTIONARY - 1, entries, 20, r * 3);
			dict_sizes[ZC_T_DICTIONARY - 1] = 20;
			sample_batch_from(&b, ZC_T_NULL, cols, every_rows[r],
							  (unsigned) r, dict_sizes, r * 5);
			sb_end(&b, every_rows[r]);
			snprintf(what, sizeof(what), "every_%s", nname);
			emit_block(emit, arg, &b, what, every_rows[r]);
			count++;
		}

		/* the fixed-width types in 100 rows, sentinels where allowed */
		sb_reset(&b);
		memset(cols, 0, sizeof(cols));
		for (i = 0; i < (int) sizeof(narrow); i++)
		{
			cols[i].type = narrow[i];
			cols[i].nulls = nulls;
			cols[i].name = zc_wire_type_name(narrow[i]);
		}
		cols[7].flags = ZC_FLAG_SENTINEL_NULL;
		sb_header(&b, sizeof(narrow), cols);
		sample_batch(&b, sizeof(narrow), cols, 100, 1, NULL);
		sb_end(&b, 100);
		snprintf(what, sizeof(what), "narrow_%s", nname);
		emit_block(emit, arg, &b, what, 100);
		count++;

		sb_reset(&b);
		memset(cols, 0, sizeof(cols));
		for (i = 0; i < (int) sizeof(wide); i++)
		{
			cols[i].type = wide[i];
			cols[i].nulls = nulls;
			cols[i].name = zc_wire_type_name(wide[i]);
			if (i >= 2)
				cols[i].flags = ZC_FLAG_SENTINEL_NULL;
			if (i >= 3)
				cols[i].unit = (uint8_t) (i % 4);
		}
		cols[4].tz = "Asia/Kolkata";
		sb_header(&b, sizeof(wide), cols);
		sample_batch(&b, sizeof(wide), cols, 100, 2, NULL);
		sb_end(&b, 100);
		snprintf(what, sizeof(what), "wide_%s", nname);
		emit_block(emit, arg, &b, what, 100);
		count++;

		/* utf8 and binary: batches of 16, 100, 33 and 0 rows */
		sb_reset(&b);
		memset(cols, 0, sizeof(cols));
		cols[0].type = ZC_T_UTF8;
		cols[0].nulls = nulls;
		cols[0].name = "text";
		cols[1].type = ZC_T_BINARY;
		cols[1].nulls = nulls;
		cols[1].name = "blob";
		sb_header(&b, 2, cols);
		sample_batch_from(&b, 2, cols, 16, 0, NULL, 0);
		sample_batch_from(&b, 2, cols, 100, 1, NULL, 7);
		sample_batch_from(&b, 2, cols, 33, 2, NULL, 1);
		sample_batch_from(&b, 2, cols, 0, 3, NULL, 3);
		sb_end(&b, 149);
		snprintf(what, sizeof(what), "strings_%s", nname);
		emit_block(emit, arg, &b, what, 149);
		count++;
	}

	/*
	 * Dictionary columns with int8, int16, int32 and int64 codes under every
	 * null encoding, dictionaries of 3 to 33 entries (some starting at a
	 * nonzero offset), and a last column that never gets one: a batch, some
	 * dictionaries replaced by smaller or empty ones, another batch.
	 */
	for (r = 0; r < sizeof(dict_rows) / sizeof(dict_rows[0]); r++)
	{
		size_t		n = dict_rows[r];

		sb_reset(&b);
		memset(cols, 0, sizeof(cols));
		memset(dict_sizes, 0, sizeof(dict_sizes));
		for (i = 0; i < 13; i++)
		{
			cols[i].type = ZC_T_DICTIONARY;
			cols[i].value_type = ZC_T_UTF8;
			cols[i].index_type = (uint8_t) (ZC_T_INT8 + i % 4);
			cols[i].nulls = (uint8_t) (i / 4 % 3);
			cols[i].name = "cat";
		}
		sb_header(&b, 13, cols);
		for (i = 0; i < 12; i++)
		{
			dict_sizes[i] = dict_entries[(i + r) % 4];
			sb_dictionary_from(&b, (uint32_t) i, entries, dict_sizes[i],
							   (uint64_t) (i % 2) * (i + 1));
		}
		sample_batch(&b, 13, cols, n, (unsigned) r, dict_sizes);
		for (i = 0; i < 12; i += 3)
		{
			dict_sizes[i] = i % 2 ? 0 : 2;
			sb_dictionary(&b, (uint32_t) i, entries, dict_sizes[i]);
		}
		sample_batch(&b, 13, cols, n + 1, (unsigned) r + 5, dict_sizes);
		sb_end(&b, 2 * n + 1);
		emit_block(emit, arg, &b, "dict", n);
		count++;
	}

	/*
	 * The wire types Arrow needs (bitbool to decimal256) under every null
	 * encoding, in batches of 16, 17, 31, 33 and 48 rows:
	 * 32-bit and based offsets starting at 0 to 15, time32 in s and ms,
	 * time64 in us and ns, decimals with negative and large scales, and
	 * dictionaries with unsigned codes of every width.
	 */
	for (nulls = ZC_NULLS_NONE; nulls <= ZC_NULLS_BYTEMASK; nulls++)
	{
		const char *nname = zc_null_encoding_name(nulls);
		int			ncols = ZC_T_MAX - ZC_T_NULL;

		for (r = 0; r <= sizeof(every_rows) / sizeof(every_rows[0]); r++)
		{
			size_t		rows = r < 4 ? every_rows[r] : 48;
			bool		based = (r + nulls) % 2 == 0;

			sb_reset(&b);
			memset(cols, 0, sizeof(cols));
			memset(dict_sizes, 0, sizeof(dict_sizes));
			for (i = 0; i < ncols; i++)
			{
				cols[i].type = (uint8_t) (ZC_T_NULL + 1 + i);
				cols[i].nulls = nulls;
				cols[i].name = zc_wire_type_name(cols[i].type);
			}
			cols[ZC_T_UTF8_32 - ZC_T_NULL - 1].flags = based ? ZC_FLAG_BASED_OFFSETS : 0;
			cols[ZC_T_BINARY_32 - ZC_T_NULL - 1].flags = based ? 0 : ZC_FLAG_BASED_OFFSETS;
			cols[ZC_T_TIME32 - ZC_T_NULL - 1].unit = (uint8_t) (r % 2);
			cols[ZC_T_TIME64 - ZC_T_NULL - 1].unit = (uint8_t) (2 + r % 2);
			cols[ZC_T_DECIMAL128 - ZC_T_NULL - 1].index_type = (uint8_t) (1 + r * 9);
			cols[ZC_T_DECIMAL128 - ZC_T_NULL - 1].value_type = (uint8_t) (r * 60 - 100);
			cols[ZC_T_DECIMAL256 - ZC_T_NULL - 1].index_type = (uint8_t) (76 - r * 15);
			cols[ZC_T_DECIMAL256 - ZC_T_NULL - 1].value_type = (uint8_t) (127 - r * 50);
			/* a based utf8 and an unsigned dictionary */
			cols[ncols].type = ZC_T_UTF8;
			cols[ncols].nulls = nulls;
			cols[ncols].flags = ZC_FLAG_BASED_OFFSETS;
			cols[ncols].name = "based";
			cols[ncols + 1].type = ZC_T_DICTIONARY;
			cols[ncols + 1].nulls = nulls;
			cols[ncols + 1].index_type = (uint8_t) (ZC_T_UINT8 + r % 4);
			cols[ncols + 1].value_type = ZC_T_UTF8;
			cols[ncols + 1].name = "ucat";
			sb_header(&b, (uint32_t) ncols + 2, cols);
			dict_sizes[ncols + 1] = 20;
			sb_dictionary_from(&b, (uint32_t) ncols + 1, entries, 20, r);
			sample_batch_from(&b, (uint32_t) ncols + 2, cols, rows,
							  (unsigned) r, dict_sizes, r * 5 % 16);
			sb_end(&b, rows);
			snprintf(what, sizeof(what), "arrow_%s", nname);
			emit_block(emit, arg, &b, what, rows);
			count++;
		}
	}

	/* 100 rows of each index type, under the three null encodings */
	sb_reset(&b);
	memset(cols, 0, sizeof(cols));
	memset(dict_sizes, 0, sizeof(dict_sizes));
	for (i = 0; i < 5; i++)
	{
		cols[i].type = ZC_T_DICTIONARY;
		cols[i].value_type = ZC_T_UTF8;
		cols[i].index_type = (uint8_t) (ZC_T_INT8 + i % 4);
		cols[i].nulls = (uint8_t) ((i + 1) % 3);
		cols[i].name = "code";
	}
	sb_header(&b, 5, cols);
	for (i = 0; i < 4; i++)
	{
		dict_sizes[i] = 100 - (size_t) i * 30;
		sb_dictionary_from(&b, (uint32_t) i, entries, dict_sizes[i],
						   (uint64_t) i * 3);
	}
	sample_batch(&b, 5, cols, 100, 9, dict_sizes);
	sb_end(&b, 100);
	emit_block(emit, arg, &b, "dict", 100);
	count++;

	sb_free(&b);
	return count;
}
