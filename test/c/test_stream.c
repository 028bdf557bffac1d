/*-------------------------------------------------------------------------
 *
 * test_stream.c
 *	  Unit tests of the zcimport stream decoder (src/stream.c).
 *
 * A plain main() with a tiny check framework: every check is counted, each
 * failure is reported with its line, and the last line of output is a
 * summary.  The exit status is non-zero if any check failed.  Built and run
 * under AddressSanitizer and UBSan by `make check-c`.
 *
 * The decoder is always handed exactly-sized heap copies of the bytes it is
 * allowed to see, so that ASan catches any read past them.
 *
 * Set ZC_TEST_VERBOSE=1 to print every rejection message.
 *
 * test/c/test_stream.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "stream.h"
#include "streambuild.h"

static bool verbose;
static long view_errors;		/* bad views seen by hash_batch/hash_dict */
static long bad_messages;		/* error messages that fail message_ok() */


/* ---------------------------------------------------------------------------
 * Plumbing: allocators, exact copies, running a decoder
 * ---------------------------------------------------------------------------
 */

/* An allocator that always fails. */
static void *
failing_alloc(void *arg, size_t size)
{
	(void) arg;
	(void) size;
	return NULL;
}

static uint64_t empty_block[1];

/* An exactly-sized, 8-aligned heap copy of p[0 .. n) (malloc aligns to 16). */
static uint8_t *
exact_copy(const uint8_t *p, size_t n)
{
	uint8_t    *c;

	if (n == 0)
		return (uint8_t *) empty_block;
	c = malloc(n);
	if (c == NULL)
		abort();
	memcpy(c, p, n);
	return c;
}

/* Free a copy made by exact_copy(). */
static void
free_copy(uint8_t *c)
{
	if (c != (uint8_t *) empty_block)
		free(c);
}

/* FNV-1a over bytes, continuing from h. */
static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		h ^= b[i];
		h *= 1099511628211u;
	}
	return h;
}

/* Hash a 64-bit number into h. */
static uint64_t
fnv_u64(uint64_t h, uint64_t v)
{
	return fnv(h, &v, sizeof(v));
}

/* Length in bytes of a column's validity buffer of n rows. */
static uint64_t
t_validity_len(const ZcColumnDesc *d, uint64_t n)
{
	return d->nulls == ZC_NULLS_BITMAP ? (n + 7) / 8 :
		d->nulls == ZC_NULLS_BYTEMASK ? n : 0;
}

/* Length in bytes of a column's values (or codes) buffer of n rows. */
static uint64_t
t_values_len(const ZcColumnDesc *d, uint64_t n)
{
	if (d->type == ZC_T_BITBOOL)
		return (n + 7) / 8;
	if (d->type == ZC_T_DICTIONARY)
		return n * zc_wire_type_width(d->index_type);
	return n * zc_wire_type_width(d->type);
}

/* Is [p, p + n) inside [base, base + len)? */
static bool
inside(const void *p, uint64_t n, const uint8_t *base, size_t len)
{
	const uint8_t *q = p;

	if (n == 0 && p == NULL)
		return true;
	return q >= base && q <= base + len && n <= (uint64_t) (base + len - q);
}

/* Count a bad view; report the first few. */
static void
view_check(bool ok, int line)
{
	if (ok)
		return;
	if (view_errors++ < 10)
		fprintf(stderr, "%s:%d: bad view\n", __FILE__, line);
}

#define VIEW_OK(cond) view_check((cond), __LINE__)

/*
 * Hash everything a batch's views show (touching every byte, so ASan sees
 * any bad view) and where they point relative to the unit; check that they
 * stay inside the unit and that offsets and codes obey the rules.
 */
static uint64_t
hash_batch(const ZcDecoder *dec, const uint8_t *buf, size_t used)
{
	uint64_t	h = 14695981039346656037u;
	uint64_t	n = dec->batch_rows;
	uint32_t	c;

	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *d = &dec->columns[c];
		const ZcColumnView *v = &dec->views[c];
		uint64_t	vl = t_validity_len(d, n);
		uint64_t	i;

		if (d->nulls != ZC_NULLS_NONE)
		{
			VIEW_OK(v->validity != NULL && inside(v->validity, vl, buf, used));
			h = fnv_u64(h, (uint64_t) (v->validity - buf));
			h = fnv(h, v->validity, vl);
		}
		else
			VIEW_OK(v->validity == NULL);
		if (d->type == ZC_T_UTF8 || d->type == ZC_T_BINARY ||
			d->type == ZC_T_UTF8_32 || d->type == ZC_T_BINARY_32)
		{
			bool		o32 = d->type == ZC_T_UTF8_32 || d->type == ZC_T_BINARY_32;
			bool		based = (d->flags & ZC_FLAG_BASED_OFFSETS) != 0;
			const void *offs = o32 ? (const void *) v->offsets32 :
				(const void *) v->offsets;
			int64_t		first,
						last;

			VIEW_OK(o32 ? v->offsets == NULL : v->offsets32 == NULL);
			VIEW_OK(inside(offs, (n + 1) * (o32 ? 4 : 8), buf, used));
			VIEW_OK(inside(v->data, v->data_len, buf, used));
			h = fnv_u64(h, (uint64_t) ((const uint8_t *) offs - buf));
			h = fnv(h, offs, (n + 1) * (o32 ? 4 : 8));
			h = fnv(h, v->data, v->data_len);
			first = o32 ? v->offsets32[0] : v->offsets[0];
			last = o32 ? v->offsets32[n] : v->offsets[n];
			VIEW_OK(v->data_base == (based ? first : 0));
			VIEW_OK(first >= 0 && last - v->data_base <= (int64_t) v->data_len);
			for (i = 0; i < n; i++)
			{
				int64_t		a = o32 ? v->offsets32[i] : v->offsets[i];
				int64_t		z = o32 ? v->offsets32[i + 1] : v->offsets[i + 1];
				int64_t		l;
				const uint8_t *p = zc_varlen_value(v, i, &l);

				if (z < a || l != z - a || p < v->data ||
					(uint64_t) (p - v->data) + (uint64_t) l > v->data_len)
					VIEW_OK(false);
			}
		}
		else
		{
			uint64_t	len = t_values_len(d, n);

			VIEW_OK(inside(v->values, len, buf, used));
			h = fnv_u64(h, (uint64_t) (v->values - buf));
			h = fnv(h, v->values, len);
			if (d->type == ZC_T_DICTIONARY)
			{
				int			w = zc_wire_type_width(d->index_type);
				bool		is_unsigned = d->index_type >= ZC_T_UINT8;

				for (i = 0; i < n; i++)
				{
					int64_t		code;

					if (!zc_row_valid(d, v, i))
						continue;
					if (is_unsigned)
					{
						uint64_t	u = w == 1 ? ((const uint8_t *) v->values)[i] :
							w == 2 ? ((const uint16_t *) v->values)[i] :
							w == 4 ? ((const uint32_t *) v->values)[i] :
							((const uint64_t *) v->values)[i];

						if (dec->dict_sizes[c] < 0 || u >= (uint64_t) dec->dict_sizes[c])
							VIEW_OK(false);
						continue;
					}
					code = w == 1 ? ((const int8_t *) v->values)[i] :
						w == 2 ? ((const int16_t *) v->values)[i] :
						w == 4 ? ((const int32_t *) v->values)[i] :
						((const int64_t *) v->values)[i];
					if (code != -1 && (code < 0 || code >= dec->dict_sizes[c]))
						VIEW_OK(false);
				}
			}
		}
	}
	return h;
}

/* Hash a dictionary message's view. */
static uint64_t
hash_dict(const ZcDecoder *dec, const uint8_t *buf, size_t used)
{
	const ZcDictionaryView *dv = &dec->dict;
	uint64_t	h = 14695981039346656037u;

	VIEW_OK(inside(dv->offsets, (dv->count + 1) * 8, buf, used));
	VIEW_OK(inside(dv->data, dv->data_len, buf, used));
	h = fnv_u64(h, dv->column);
	h = fnv_u64(h, dv->count);
	h = fnv(h, dv->offsets, (dv->count + 1) * 8);
	h = fnv(h, dv->data, dv->data_len);
	return h;
}

/*
 * Is an error message presentable: non-empty, valid UTF-8 without control
 * characters, starting lowercase and without a final period?
 */
static bool
message_ok(const char *m)
{
	const uint8_t *p = (const uint8_t *) m;
	size_t		len = strlen(m);
	size_t		i = 0;

	if (len == 0 || m[len - 1] == '.' || (m[0] >= 'A' && m[0] <= 'Z'))
		return false;
	while (i < len)
	{
		int			n = p[i] < 0x80 ? 1 : p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 :
			p[i] >= 0xc2 ? 2 : 0;
		int			k;

		if (n == 0 || i + n > len || (n == 1 && (p[i] < 0x20 || p[i] == 0x7f)))
			return false;
		for (k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += n;
	}
	return true;
}

#define MAX_EVENTS 512

typedef struct Ev
{
	int			event;
	size_t		used;
	uint64_t	offset;			/* dec.offset before the unit */
	uint64_t	rows;
	uint64_t	batches;
	uint64_t	total;
	uint64_t	hash;
	size_t		hint;			/* largest NEED_MORE hint for this unit */
} Ev;

typedef struct Run
{
	Ev			ev[MAX_EVENTS];
	int			nev;
	ZcStatus	status;			/* ZC_OK: finished cleanly */
	bool		next_failed;	/* the error came from zc_decoder_next */
	char		message[ZC_ERROR_LEN];
	int			bad_hints;		/* NEED_MORE with *used <= len */
	int			short_hints;	/* a unit shorter than a hint given for it */
	size_t		last_hint;
	uint64_t	last_hint_offset;
	uint32_t	ncolumns;
} Run;

/* Chunking of run_stream(): 0 all at once, > 0 fixed size, < 0 random. */
static size_t
next_chunk(long chunk, uint64_t *rng, size_t remaining)
{
	size_t		n;

	if (chunk == 0)
		return remaining;
	if (chunk > 0)
		n = (size_t) chunk;
	else
	{
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		n = 1 + (size_t) (*rng % (uint64_t) (-chunk));
	}
	return n < remaining ? n : remaining;
}

/*
 * Decode data[0 .. len) the way the server does: append a chunk, call
 * zc_decoder_next() until it needs more, consume what it used, and call
 * zc_decoder_finish() at the end.
 */
static void
run_stream(const uint8_t *data, size_t len, long chunk, uint64_t seed,
		   uint64_t max_message_len, Run *r)
{
	ZcDecoder	dec;
	Arena		arena = {0};
	ZcError		err;
	size_t		start = 0;
	size_t		fed = 0;
	uint64_t	rng = seed * 0x9E3779B97F4A7C15u + 1;
	size_t		hint = 0;

	memset(r, 0, sizeof(*r));
	zc_decoder_init(&dec, arena_alloc, &arena, max_message_len);
	for (;;)
	{
		fed += next_chunk(chunk, &rng, len - fed);
		for (;;)
		{
			size_t		avail = fed - start;
			uint8_t    *copy = exact_copy(data + start, avail);
			size_t		used = 0;
			ZcEvent		event = ZC_EV_NONE;
			uint64_t	before = dec.offset;
			ZcStatus	st;

			st = zc_decoder_next(&dec, copy, avail, &used, &event, &err);
			if (st == ZC_OK)
			{
				Ev		   *e = &r->ev[r->nev < MAX_EVENTS ? r->nev : MAX_EVENTS - 1];

				memset(e, 0, sizeof(*e));
				e->event = event;
				e->used = used;
				e->offset = before;
				e->rows = dec.batch_rows;
				e->batches = dec.batches;
				e->total = dec.total_rows;
				e->hint = hint;
				if (used < hint || used == 0 || used > avail || used % 8 != 0)
					r->short_hints++;
				if (dec.offset != before + used)
					r->short_hints++;
				if (event == ZC_EV_BATCH)
					e->hash = hash_batch(&dec, copy, used);
				else if (event == ZC_EV_DICTIONARY)
					e->hash = hash_dict(&dec, copy, used);
				else if (event == ZC_EV_HEADER)
					r->ncolumns = dec.ncolumns;
				if (r->nev < MAX_EVENTS)
					r->nev++;
				hint = 0;
				free_copy(copy);
				start += used;
				continue;
			}
			free_copy(copy);
			if (st == ZC_NEED_MORE)
			{
				if (used <= avail)
					r->bad_hints++;
				if (used > hint)
					hint = used;
				r->last_hint = used;
				r->last_hint_offset = dec.offset;
				break;
			}
			r->status = ZC_ERROR;
			r->next_failed = true;
			snprintf(r->message, sizeof(r->message), "%s", err.message);
			if (!message_ok(r->message))
				bad_messages++;
			arena_free(&arena);
			return;
		}
		if (fed == len)
			break;
	}
	r->status = zc_decoder_finish(&dec, fed - start, &err);
	if (r->status != ZC_OK)
		snprintf(r->message, sizeof(r->message), "%s", err.message);
	if (r->status != ZC_OK && !message_ok(r->message))
		bad_messages++;
	arena_free(&arena);
}

/* Do two runs show the same events and outcome? */
static bool
same_run(const Run *a, const Run *b)
{
	int			i;

	if (a->nev != b->nev || a->status != b->status ||
		a->next_failed != b->next_failed ||
		strcmp(a->message, b->message) != 0)
		return false;
	for (i = 0; i < a->nev; i++)
	{
		const Ev   *x = &a->ev[i];
		const Ev   *y = &b->ev[i];

		if (x->event != y->event || x->used != y->used ||
			x->offset != y->offset || x->rows != y->rows ||
			x->batches != y->batches || x->total != y->total ||
			x->hash != y->hash)
			return false;
	}
	return true;
}

/*
 * Decode a stream that must be rejected, whole and byte by byte: both must
 * fail with the same message, which must contain phrase.
 */
static void
expect_error_at(const uint8_t *data, size_t len, uint64_t max_message_len,
				const char *phrase, const char *file, int line)
{
	Run		   *whole = malloc(sizeof(Run));
	Run		   *bytes = malloc(sizeof(Run));

	if (whole == NULL || bytes == NULL)
		abort();
	run_stream(data, len, 0, 0, max_message_len, whole);
	run_stream(data, len, 1, 0, max_message_len, bytes);
	if (verbose)
		printf("  [%s:%d] %s\n", file, line, whole->message);
	if (check_at(whole->status == ZC_ERROR, file, line,
				 "expected an error containing \"%s\", the stream was accepted",
				 phrase))
		check_at(strstr(whole->message, phrase) != NULL, file, line,
				 "message \"%s\" lacks \"%s\"", whole->message, phrase);
	check_at(same_run(whole, bytes), file, line,
			 "byte-by-byte run differs: \"%s\" vs \"%s\"", whole->message,
			 bytes->message);
	check_at(whole->bad_hints == 0 && bytes->bad_hints == 0 &&
			 whole->short_hints == 0 && bytes->short_hints == 0,
			 file, line, "bad NEED_MORE hints");
	free(whole);
	free(bytes);
}

#define EXPECT_ERROR(buf, phrase) \
	expect_error_at((buf)->data, (buf)->len, 0, (phrase), __FILE__, __LINE__)
#define EXPECT_ERROR_LIMIT(buf, limit, phrase) \
	expect_error_at((buf)->data, (buf)->len, (limit), (phrase), __FILE__, __LINE__)

/* Decode a stream that must be accepted, whole and byte by byte. */
static void
expect_ok_at(const uint8_t *data, size_t len, const char *file, int line)
{
	Run		   *whole = malloc(sizeof(Run));
	Run		   *bytes = malloc(sizeof(Run));

	if (whole == NULL || bytes == NULL)
		abort();
	run_stream(data, len, 0, 0, 0, whole);
	run_stream(data, len, 1, 0, 0, bytes);
	check_at(whole->status == ZC_OK, file, line,
			 "expected the stream to be accepted: %s", whole->message);
	check_at(same_run(whole, bytes), file, line,
			 "byte-by-byte run differs");
	free(whole);
	free(bytes);
}

#define EXPECT_OK(buf) expect_ok_at((buf)->data, (buf)->len, __FILE__, __LINE__)

/* A decoder walking a whole stream, one unit per step. */
typedef struct Stepper
{
	ZcDecoder	dec;
	Arena		arena;
	uint8_t    *buf;
	size_t		len;
	size_t		pos;
	ZcError		err;
	size_t		used;
} Stepper;

/* Start stepping through a copy of a stream. */
static void
step_init(Stepper *s, const SbBuf *b)
{
	memset(s, 0, sizeof(*s));
	s->buf = exact_copy(b->data, b->len);
	s->len = b->len;
	zc_decoder_init(&s->dec, arena_alloc, &s->arena, 0);
}

/* Decode the next unit; advance past it on success. */
static ZcStatus
step(Stepper *s, ZcEvent *event)
{
	ZcStatus	st;

	st = zc_decoder_next(&s->dec, s->buf + s->pos, s->len - s->pos,
						 &s->used, event, &s->err);
	if (st == ZC_OK)
		s->pos += s->used;
	return st;
}

/* Decode the next unit, which must be an event of the given kind. */
static bool
step_expect(Stepper *s, ZcEvent expected, int line)
{
	ZcEvent		event = ZC_EV_NONE;
	ZcStatus	st = step(s, &event);

	return check_at(st == ZC_OK && event == expected, __FILE__, line,
					"expected event %d, got status %d event %d (%s)",
					(int) expected, (int) st, (int) event, s->err.message);
}

#define STEP_EXPECT(s, ev) step_expect((s), (ev), __LINE__)

/* Release a stepper. */
static void
step_free(Stepper *s)
{
	free_copy(s->buf);
	arena_free(&s->arena);
}

/* Collects the sample streams of sb_sample_streams(). */
typedef struct Sample
{
	char		name[32];
	uint8_t    *data;
	size_t		len;
} Sample;

typedef struct Samples
{
	Sample		s[32];
	int			n;
} Samples;

/* SbEmitFn keeping copies of the samples. */
static void
keep_sample(void *arg, const char *name, const uint8_t *data, size_t len)
{
	Samples    *all = arg;
	Sample	   *s = &all->s[all->n++];

	snprintf(s->name, sizeof(s->name), "%s", name);
	s->data = malloc(len ? len : 1);
	memcpy(s->data, data, len);
	s->len = len;
}


/* ---------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------------
 */

/* ---------------------------------------------------------------------------
 * The wire types Arrow needs (codes 20 to 27, based offsets, unsigned codes)
 * ---------------------------------------------------------------------------
 */

/* A one-column stream: header (with col), one batch whose body is body. */
static void
one_column(SbBuf *b, const SbColumn *col, uint64_t rows, const SbBuf *body)
{
	sb_reset(b);
	sb_header(b, 1, col);
	sb_batch(b, rows);
	sb_put(b, body->data, body->len);
	sb_end(b, rows);
}

/* Raw offsets buffer of n + 1 offsets of width w (8 or 4). */
static void
raw_offsets(SbBuf *b, int w, const int64_t *offs, size_t n)
{
	size_t		i;

	sb_u64(b, (uint64_t) (n + 1) * (uint64_t) w);
	for (i = 0; i <= n; i++)
	{
		if (w == 4)
			sb_u32(b, (uint32_t) offs[i]);
		else
			sb_u64(b, (uint64_t) offs[i]);
	}
	sb_pad8(b);
}

/* bitbool: ceil(n/8) bytes, LSB first, bits past n ignored. */
static void
test_bitbool(void)
{
	SbColumn	col = {0};
	SbBuf		b,
				body;
	Stepper		s;
	uint8_t		bits[3] = {0x5A, 0xC3, 0xFE};	/* row 16 = 0, the rest garbage */
	size_t		i;
	int			nulls;

	sb_init(&b);
	sb_init(&body);
	col.type = ZC_T_BITBOOL;
	col.name = "flag";
	for (nulls = 0; nulls <= 2; nulls++)
	{
		bool		valid[17];

		for (i = 0; i < 17; i++)
			valid[i] = i % 4 != 2;
		col.nulls = (uint8_t) nulls;
		sb_reset(&body);
		sb_validity(&body, (uint8_t) nulls, valid, 17);
		sb_buffer(&body, bits, 3);
		one_column(&b, &col, 17, &body);
		step_init(&s, &b);
		STEP_EXPECT(&s, ZC_EV_HEADER);
		if (STEP_EXPECT(&s, ZC_EV_BATCH))
		{
			const ZcColumnView *v = &s.dec.views[0];

			CHECK(v->values != NULL && memcmp(v->values, bits, 3) == 0);
			for (i = 0; i < 17; i++)
			{
				CHECK(zc_bitbool_value(v, i) == (((bits[i / 8] >> (i % 8)) & 1) != 0));
				CHECK(zc_row_valid(&s.dec.columns[0], v, i) ==
					  (nulls == 0 ? true : valid[i]));
			}
		}
		STEP_EXPECT(&s, ZC_EV_END);
		step_free(&s);
		EXPECT_OK(&b);

		/* a values buffer of n bytes, or of one byte too few or too many */
		sb_reset(&body);
		sb_validity(&body, (uint8_t) nulls, valid, 17);
		sb_buffer(&body, bits, 2);
		one_column(&b, &col, 17, &body);
		EXPECT_ERROR(&b, "the values buffer at byte offset");
		EXPECT_ERROR(&b, "has length 2, expected 3 (17 rows of bitbool)");
		sb_reset(&body);
		sb_validity(&body, (uint8_t) nulls, valid, 17);
		{
			uint8_t		many[17] = {0};

			sb_buffer(&body, many, 17);
		}
		one_column(&b, &col, 17, &body);
		EXPECT_ERROR(&b, "has length 17, expected 3 (17 rows of bitbool)");
		sb_reset(&body);
		sb_validity(&body, (uint8_t) nulls, valid, 16);
		sb_buffer(&body, bits, 2);
		one_column(&b, &col, 16, &body);
		EXPECT_OK(&b);
	}
	/* zero rows: an empty values buffer */
	col.nulls = ZC_NULLS_BITMAP;
	sb_reset(&body);
	sb_buffer(&body, NULL, 0);
	sb_buffer(&body, NULL, 0);
	one_column(&b, &col, 0, &body);
	EXPECT_OK(&b);
	sb_free(&body);
	sb_free(&b);
}

/* utf8_32, binary_32 and based offsets, valid and invalid. */
static void
test_offsets32_and_based(void)
{
	static const char *const words[] = {
		"", "a", "bc", "caf\xc3\xa9", "0123456789", "", "x", "yz"
	};
	const size_t n = 20;
	const void *ptrs[20];
	size_t		lens[20];
	SbColumn	col = {0};
	SbBuf		b,
				body;
	Stepper		s;
	size_t		i;
	int			t;

	for (i = 0; i < n; i++)
	{
		ptrs[i] = words[i % 8];
		lens[i] = strlen(words[i % 8]);
	}
	sb_init(&b);
	sb_init(&body);
	col.name = "s";

	for (t = 0; t < 4; t++)
	{
		static const uint8_t types[] = {
			ZC_T_UTF8, ZC_T_BINARY, ZC_T_UTF8_32, ZC_T_BINARY_32
		};
		int			w = t >= 2 ? 4 : 8;
		int			based;

		col.type = types[t];
		for (based = 0; based <= 1; based++)
		{
			uint64_t	first;

			col.flags = based ? ZC_FLAG_BASED_OFFSETS : 0;
			for (first = 0; first <= 1000; first += 333)
			{
				int			nulls = (int) (first / 333) % 3;

				col.nulls = (uint8_t) nulls;
				sb_reset(&body);
				sb_validity(&body, (uint8_t) nulls, NULL, n);
				sb_varlen_from(&body, w, based, ptrs, lens, n, first);
				one_column(&b, &col, n, &body);
				EXPECT_OK(&b);
				step_init(&s, &b);
				STEP_EXPECT(&s, ZC_EV_HEADER);
				if (STEP_EXPECT(&s, ZC_EV_BATCH))
				{
					const ZcColumnView *v = &s.dec.views[0];

					CHECK((w == 4) == (v->offsets32 != NULL));
					CHECK((w == 8) == (v->offsets != NULL));
					CHECK_EQ(v->data_base, based ? first : 0);
					for (i = 0; i < n; i++)
					{
						int64_t		l;
						const uint8_t *p = zc_varlen_value(v, i, &l);

						CHECKF((size_t) l == lens[i] && memcmp(p, ptrs[i], lens[i]) == 0,
							   "type %d based %d first %llu row %zu", col.type,
							   based, (unsigned long long) first, i);
					}
				}
				STEP_EXPECT(&s, ZC_EV_END);
				step_free(&s);
			}
		}

		/* offsets of the other width */
		col.flags = 0;
		col.nulls = 0;
		sb_reset(&body);
		sb_varlen_from(&body, w == 4 ? 8 : 4, false, ptrs, lens, n, 0);
		one_column(&b, &col, n, &body);
		EXPECT_ERROR(&b, w == 4 ? "expected 84 (20 rows need 21 offsets of 4 bytes)" :
					 "expected 168 (20 rows need 21 offsets of 8 bytes)");

		/* absolute offsets that need the filler bytes: short data */
		{
			int64_t		offs[4] = {5, 6, 8, 9};

			sb_reset(&body);
			raw_offsets(&body, w, offs, 3);
			sb_buffer(&body, "abcd", 4);
			one_column(&b, &col, 3, &body);
			EXPECT_ERROR(&b, "offsets[3] = 9 is beyond the end of the data buffer of 4 bytes");
			/* the same offsets, based: 4 bytes are just enough */
			col.flags = ZC_FLAG_BASED_OFFSETS;
			one_column(&b, &col, 3, &body);
			EXPECT_OK(&b);
			/* based, one byte short */
			sb_reset(&body);
			raw_offsets(&body, w, offs, 3);
			sb_buffer(&body, "abc", 3);
			one_column(&b, &col, 3, &body);
			EXPECT_ERROR(&b, "the based offsets span offsets[3] - offsets[0] = 4 bytes, more than the data buffer of 3 bytes");
			col.flags = 0;
		}
		/* negative first offset, based or not */
		{
			int64_t		offs[3] = {-1, 0, 1};

			for (i = 0; i < 2; i++)
			{
				col.flags = i ? ZC_FLAG_BASED_OFFSETS : 0;
				sb_reset(&body);
				raw_offsets(&body, w, offs, 2);
				sb_buffer(&body, "ab", 2);
				one_column(&b, &col, 2, &body);
				EXPECT_ERROR(&b, "offsets[0] = -1 is negative");
			}
			col.flags = 0;
		}
		/* decreasing offsets in a block of 16, based or not */
		{
			int64_t		offs[21];

			for (i = 0; i <= 20; i++)
				offs[i] = (int64_t) (i < 13 ? i : i - 2);
			for (i = 0; i < 2; i++)
			{
				col.flags = i ? ZC_FLAG_BASED_OFFSETS : 0;
				sb_reset(&body);
				raw_offsets(&body, w, offs, 20);
				sb_buffer(&body, "0123456789012345678901", 22);
				one_column(&b, &col, 20, &body);
				EXPECT_ERROR(&b, "offsets[13] = 11 is less than offsets[12] = 12");
			}
			col.flags = 0;
		}
		/* an offset with the sign bit set in the middle, and huge ends */
		{
			int64_t		offs[18];

			for (i = 0; i <= 17; i++)
				offs[i] = (int64_t) i;
			offs[9] = w == 4 ? (int64_t) INT32_MIN : INT64_MIN;
			sb_reset(&body);
			raw_offsets(&body, w, offs, 17);
			sb_buffer(&body, "0123456789abcdefghij", 20);
			one_column(&b, &col, 17, &body);
			EXPECT_ERROR(&b, "offsets[9] = ");
			col.flags = ZC_FLAG_BASED_OFFSETS;
			for (i = 0; i <= 17; i++)
				offs[i] = (w == 4 ? INT32_MAX : INT64_MAX) - 17 + (int64_t) i;
			sb_reset(&body);
			raw_offsets(&body, w, offs, 17);
			sb_buffer(&body, "0123456789abcdefghij", 20);
			one_column(&b, &col, 17, &body);
			EXPECT_OK(&b);
			sb_reset(&body);
			raw_offsets(&body, w, offs, 17);
			sb_buffer(&body, "0123456789abcdef", 16);
			one_column(&b, &col, 17, &body);
			EXPECT_ERROR(&b, "the based offsets span offsets[17] - offsets[0] = 17 bytes, more than the data buffer of 16 bytes");
			col.flags = 0;
			/* 32-bit offsets past INT32_MAX wrap negative: rejected */
			if (w == 4)
			{
				offs[0] = INT32_MAX;
				offs[1] = (int64_t) INT32_MAX + 1;
				sb_reset(&body);
				raw_offsets(&body, w, offs, 1);
				sb_buffer(&body, "x", 1);
				col.flags = ZC_FLAG_BASED_OFFSETS;
				one_column(&b, &col, 1, &body);
				EXPECT_ERROR(&b, "is less than offsets[0] = 2147483647");
				col.flags = 0;
			}
		}
	}

	/* the flag on a dictionary's type, and on other types */
	col.type = ZC_T_DICTIONARY;
	col.index_type = ZC_T_INT8;
	col.value_type = ZC_T_UTF8;
	col.flags = ZC_FLAG_BASED_OFFSETS;
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "the based-offsets flag is not allowed for type dictionary (only for utf8, binary, utf8_32 and binary_32)");
	sb_free(&body);
	sb_free(&b);
}

/* date64, time32, time64, decimal128 and decimal256: descriptors, views. */
static void
test_arrow_fixed(void)
{
	SbColumn	cols[5] = {{0}};
	SbBuf		b;
	Stepper		s;
	int64_t		d64[17];
	int32_t		t32[17];
	int64_t		t64[17];
	uint8_t		dec128[17 * 16];
	uint8_t		dec256[17 * 32];
	size_t		i;
	int			nulls;

	for (i = 0; i < 17; i++)
	{
		d64[i] = (int64_t) i * -86400001;
		t32[i] = (int32_t) i * 5000;
		t64[i] = (int64_t) i * 86400000000 / 16;
	}
	for (i = 0; i < sizeof(dec128); i++)
		dec128[i] = (uint8_t) (i * 7);
	for (i = 0; i < sizeof(dec256); i++)
		dec256[i] = (uint8_t) (i * 13);
	cols[0].type = ZC_T_DATE64;
	cols[1].type = ZC_T_TIME32;
	cols[1].unit = ZC_UNIT_S;
	cols[2].type = ZC_T_TIME64;
	cols[2].unit = ZC_UNIT_NS;
	cols[3].type = ZC_T_DECIMAL128;
	cols[3].index_type = 38;
	cols[3].value_type = (uint8_t) -5;
	cols[4].type = ZC_T_DECIMAL256;
	cols[4].index_type = 1;
	cols[4].value_type = 127;
	sb_init(&b);
	for (nulls = 0; nulls <= 2; nulls++)
	{
		for (i = 0; i < 5; i++)
			cols[i].nulls = (uint8_t) nulls;
		sb_reset(&b);
		sb_header(&b, 5, cols);
		sb_batch(&b, 17);
		sb_validity(&b, (uint8_t) nulls, NULL, 17);
		sb_buffer(&b, d64, sizeof(d64));
		sb_validity(&b, (uint8_t) nulls, NULL, 17);
		sb_buffer(&b, t32, sizeof(t32));
		sb_validity(&b, (uint8_t) nulls, NULL, 17);
		sb_buffer(&b, t64, sizeof(t64));
		sb_validity(&b, (uint8_t) nulls, NULL, 17);
		sb_buffer(&b, dec128, sizeof(dec128));
		sb_validity(&b, (uint8_t) nulls, NULL, 17);
		sb_buffer(&b, dec256, sizeof(dec256));
		sb_end(&b, 17);
		EXPECT_OK(&b);
		step_init(&s, &b);
		if (STEP_EXPECT(&s, ZC_EV_HEADER))
		{
			CHECK_EQ(s.dec.columns[3].precision, 38);
			CHECK(s.dec.columns[3].scale == -5);
			CHECK_EQ(s.dec.columns[4].precision, 1);
			CHECK(s.dec.columns[4].scale == 127);
			CHECK(s.dec.columns[0].precision == 0 && s.dec.columns[0].scale == 0);
			CHECK_EQ(s.dec.columns[2].unit, ZC_UNIT_NS);
		}
		if (STEP_EXPECT(&s, ZC_EV_BATCH))
		{
			CHECK(memcmp(s.dec.views[0].values, d64, sizeof(d64)) == 0);
			CHECK(memcmp(s.dec.views[1].values, t32, sizeof(t32)) == 0);
			CHECK(memcmp(s.dec.views[2].values, t64, sizeof(t64)) == 0);
			CHECK(memcmp(s.dec.views[3].values, dec128, sizeof(dec128)) == 0);
			CHECK(memcmp(s.dec.views[4].values, dec256, sizeof(dec256)) == 0);
			for (i = 0; i < 5; i++)
				CHECK(((uintptr_t) s.dec.views[i].values & 7) == 0);
		}
		STEP_EXPECT(&s, ZC_EV_END);
		step_free(&s);
	}

	/* a decimal256 values buffer of 16-byte values */
	sb_reset(&b);
	cols[4].nulls = 0;
	sb_header(&b, 1, &cols[4]);
	sb_batch(&b, 17);
	sb_buffer(&b, dec128, sizeof(dec128));
	sb_end(&b, 17);
	EXPECT_ERROR(&b, "has length 272, expected 544 (17 rows of decimal256)");

	/* precision: 1 to 38, 1 to 76; the scale is any int8 */
	{
		static const struct
		{
			uint8_t		type;
			uint8_t		precision;
			bool		ok;
		}			cases[] = {
			{ZC_T_DECIMAL128, 0, false}, {ZC_T_DECIMAL128, 1, true},
			{ZC_T_DECIMAL128, 38, true}, {ZC_T_DECIMAL128, 39, false},
			{ZC_T_DECIMAL128, 255, false}, {ZC_T_DECIMAL256, 0, false},
			{ZC_T_DECIMAL256, 39, true}, {ZC_T_DECIMAL256, 76, true},
			{ZC_T_DECIMAL256, 77, false}, {ZC_T_DECIMAL256, 200, false}
		};
		SbColumn	col = {0};

		col.name = "d";
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			int			sc;

			for (sc = 0; sc < 256; sc += 85)
			{
				col.type = cases[i].type;
				col.index_type = cases[i].precision;
				col.value_type = (uint8_t) sc;
				sb_reset(&b);
				sb_header(&b, 1, &col);
				sb_end(&b, 0);
				if (cases[i].ok)
					EXPECT_OK(&b);
				else
					EXPECT_ERROR(&b, cases[i].type == ZC_T_DECIMAL128 ?
								 "of a decimal128 column is out of range (1 to 38) in its descriptor at byte offset 28" :
								 "of a decimal256 column is out of range (1 to 76) in its descriptor at byte offset 28");
			}
		}
		/* precision and scale bytes are not allowed on other types */
		col.type = ZC_T_INT64;
		col.index_type = 0;
		col.value_type = 2;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_end(&b, 0);
		EXPECT_ERROR(&b, "value type 2 is set for type int64");
		col.type = ZC_T_DATE64;
		col.index_type = 10;
		col.value_type = 0;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_end(&b, 0);
		EXPECT_ERROR(&b, "index type 10 is set for type date64");
		/* units on date64, bitbool and decimals */
		col.index_type = 0;
		col.unit = 1;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_end(&b, 0);
		EXPECT_ERROR(&b, "time unit 1 is set for type date64 (only timestamp, timestamptz, duration, time32 and time64 have a unit)");
		col.type = ZC_T_TIME32;
		col.unit = ZC_UNIT_US;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_end(&b, 0);
		EXPECT_ERROR(&b, "column 1 \"d\": time unit 2 (us) is not allowed for a time32 column (only 0, s, or 1, ms) in its descriptor at byte offset 27");
		col.type = ZC_T_TIME64;
		col.unit = ZC_UNIT_MS;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_end(&b, 0);
		EXPECT_ERROR(&b, "time unit 1 (ms) is not allowed for a time64 column (only 2, us, or 3, ns)");
		col.unit = 9;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_end(&b, 0);
		EXPECT_ERROR(&b, "time unit 9 (unrecognized) is not allowed for a time64 column");
		/* the sentinel flag is not for the new fixed-width types */
		col.unit = ZC_UNIT_US;
		col.flags = ZC_FLAG_SENTINEL_NULL;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_end(&b, 0);
		EXPECT_ERROR(&b, "the sentinel-is-null flag is not allowed for type time64");
	}
	sb_free(&b);
}

/* Dictionary codes of unsigned index types: no -1 NULL code. */
static void
test_unsigned_codes(void)
{
	static const char *const dict[] = {"a", "b", "c"};
	static const uint8_t itypes[] = {
		ZC_T_UINT8, ZC_T_UINT16, ZC_T_UINT32, ZC_T_UINT64
	};
	SbColumn	col = {0};
	SbBuf		b;
	size_t		k;
	int			nulls;

	sb_init(&b);
	col.type = ZC_T_DICTIONARY;
	col.value_type = ZC_T_UTF8;
	col.name = "u";
	for (k = 0; k < 4; k++)
	{
		int			w = zc_wire_type_width(itypes[k]);

		col.index_type = itypes[k];
		for (nulls = 0; nulls <= 2; nulls++)
		{
			/* 33 rows: two blocks of 16 and one row */
			uint64_t	codes[33];
			bool		valid[33];
			size_t		bad;

			col.nulls = (uint8_t) nulls;
			for (bad = 0; bad <= 33; bad += 11)
			{
				uint64_t	badcode;

				for (badcode = 0; badcode < 4; badcode++)
				{
					static const uint64_t badcodes[4] = {
						3, UINT64_MAX, 0x80, 0x80000000u
					};
					uint64_t	bc = badcodes[badcode] & (w == 8 ? UINT64_MAX :
														  ((uint64_t) 1 << (w * 8)) - 1);
					size_t		i;
					char		want[160];

					for (i = 0; i < 33; i++)
					{
						valid[i] = nulls == 0 || i % 5 != 4;
						/* NULL rows hold codes that would be out of range */
						codes[i] = valid[i] ? i % 3 : 200 + i;
						if (i == bad)
							codes[i] = bc;
					}
					sb_reset(&b);
					sb_header(&b, 1, &col);
					sb_dictionary(&b, 0, dict, 3);
					sb_batch(&b, 33);
					sb_validity(&b, (uint8_t) nulls, valid, 33);
					sb_u64(&b, (uint64_t) 33 * (uint64_t) w);
					for (i = 0; i < 33; i++)
						sb_put(&b, &codes[i], (size_t) w);	/* little-endian */
					sb_pad8(&b);
					sb_end(&b, 33);
					if (bad == 33 || !valid[bad] || bc < 3)
						EXPECT_OK(&b);
					else
					{
						snprintf(want, sizeof(want),
								 "dictionary code %llu at row index %zu is out of range (the dictionary has 3 entries)",
								 (unsigned long long) bc, bad);
						EXPECT_ERROR(&b, want);
					}
				}
			}
		}

		/* a valid row and no dictionary yet: there is no NULL code */
		col.nulls = ZC_NULLS_NONE;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_batch(&b, 1);
		{
			uint64_t	zero = 0;

			sb_buffer(&b, &zero, (uint64_t) w);
		}
		sb_end(&b, 1);
		EXPECT_ERROR(&b, "dictionary code 0 at row index 0, but the column has no dictionary yet (unsigned codes have no NULL code)");
		/* the all-ones code, -1 for a signed type, is not NULL */
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_dictionary(&b, 0, dict, 3);
		sb_batch(&b, 1);
		{
			uint64_t	ones = UINT64_MAX;

			sb_buffer(&b, &ones, (uint64_t) w);
		}
		sb_end(&b, 1);
		EXPECT_ERROR(&b, "is out of range (the dictionary has 3 entries)");
		/* every row NULL by the bitmap: no dictionary needed */
		col.nulls = ZC_NULLS_BITMAP;
		sb_reset(&b);
		sb_header(&b, 1, &col);
		sb_batch(&b, 2);
		{
			uint8_t		none = 0xFC;	/* rows 0 and 1 NULL, the rest garbage */
			uint64_t	junk[2] = {UINT64_MAX, UINT64_MAX};

			sb_buffer(&b, &none, 1);
			sb_buffer(&b, junk, (uint64_t) 2 * (uint64_t) w);
		}
		sb_end(&b, 2);
		EXPECT_OK(&b);
	}
	sb_free(&b);
}

/* The small helpers of stream.h. */
static void
test_helpers(void)
{
	static const char *const names[] = {
		NULL, "bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
		"uint32", "uint64", "float32", "float64", "timestamp", "timestamptz",
		"duration", "date32", "utf8", "binary", "dictionary", "null",
		"bitbool", "utf8_32", "binary_32", "date64", "time32", "time64",
		"decimal128", "decimal256"
	};
	static const int widths[] = {
		0, 1, 1, 2, 4, 8, 1, 2, 4, 8, 4, 8, 8, 8, 8, 4, 0, 0, 0, 0,
		0, 0, 0, 8, 4, 8, 16, 32
	};
	static const unsigned char magic[8] = {
		0x89, 0x5A, 0x43, 0x49, 0x0D, 0x0A, 0x1A, 0x0A
	};
	int			t;

	for (t = 1; t <= ZC_T_MAX; t++)
	{
		CHECKF(zc_wire_type_name(t) && strcmp(zc_wire_type_name(t), names[t]) == 0,
			   "name of type %d", t);
		CHECKF(zc_wire_type_width(t) == widths[t], "width of type %d", t);
	}
	CHECK(zc_wire_type_name(0) == NULL);
	CHECK(ZC_T_MAX == 27);
	CHECK(zc_wire_type_name(28) == NULL);
	CHECK(zc_wire_type_is_varlen(ZC_T_UTF8) && zc_wire_type_is_varlen(ZC_T_BINARY) &&
		  zc_wire_type_is_varlen(ZC_T_UTF8_32) && zc_wire_type_is_varlen(ZC_T_BINARY_32));
	CHECK(!zc_wire_type_is_varlen(ZC_T_DICTIONARY) && !zc_wire_type_is_varlen(ZC_T_BITBOOL));
	CHECK(zc_wire_type_name(-1) == NULL);
	CHECK(zc_wire_type_width(0) == 0 && zc_wire_type_width(99) == 0);
	CHECK(strcmp(zc_null_encoding_name(0), "none") == 0);
	CHECK(strcmp(zc_null_encoding_name(1), "bitmap") == 0);
	CHECK(strcmp(zc_null_encoding_name(2), "bytemask") == 0);
	CHECK(zc_null_encoding_name(3) == NULL);
	CHECK(strcmp(zc_time_unit_name(0), "s") == 0);
	CHECK(strcmp(zc_time_unit_name(1), "ms") == 0);
	CHECK(strcmp(zc_time_unit_name(2), "us") == 0);
	CHECK(strcmp(zc_time_unit_name(3), "ns") == 0);
	CHECK(zc_time_unit_name(4) == NULL);
	CHECK(memcmp(zc_magic, magic, 8) == 0);
}

/* The example of docs/FORMAT.md, byte for byte. */
static void
test_format_example(void)
{
	const uint8_t *example = sb_format_example;
	SbColumn	col = {0};
	SbBuf		b;
	Stepper		s;
	double		vals[2] = {1.5, NAN};
	double		v0,
				v1;
	size_t		hlen;

	/* the builder writes the same bytes */
	col.type = ZC_T_FLOAT64;
	col.flags = ZC_FLAG_SENTINEL_NULL;
	col.name = "a";
	sb_init(&b);
	hlen = sb_header(&b, 1, &col);
	CHECK_EQ(hlen, 40);
	sb_batch(&b, 2);
	sb_buffer(&b, vals, sizeof(vals));
	sb_end(&b, 2);
	CHECK_EQ(b.len, SB_FORMAT_EXAMPLE_LEN);
	CHECK(b.len == SB_FORMAT_EXAMPLE_LEN && memcmp(b.data, example, b.len) == 0);

	sb_reset(&b);
	sb_put(&b, example, SB_FORMAT_EXAMPLE_LEN);
	step_init(&s, &b);
	if (STEP_EXPECT(&s, ZC_EV_HEADER))
	{
		CHECK_EQ(s.used, 40);
		CHECK_EQ(s.dec.ncolumns, 1);
		CHECK_EQ(s.dec.columns[0].type, ZC_T_FLOAT64);
		CHECK_EQ(s.dec.columns[0].nulls, ZC_NULLS_NONE);
		CHECK_EQ(s.dec.columns[0].flags, ZC_FLAG_SENTINEL_NULL);
		CHECK_EQ(s.dec.columns[0].name_len, 1);
		CHECK(strcmp(s.dec.columns[0].name, "a") == 0);
		CHECK(strcmp(s.dec.columns[0].tz, "") == 0);
		CHECK_EQ(s.dec.dict_sizes[0], (uint64_t) -1);
		CHECK_EQ(s.dec.offset, 40);
	}
	if (STEP_EXPECT(&s, ZC_EV_BATCH))
	{
		CHECK_EQ(s.used, 0x50 - 0x28);
		CHECK_EQ(s.dec.batch_rows, 2);
		CHECK_EQ(s.dec.batches, 1);
		CHECK_EQ(s.dec.total_rows, 2);
		CHECK(s.dec.views[0].values == s.buf + 0x40);
		CHECK(s.dec.views[0].validity == NULL);
		memcpy(&v0, s.dec.views[0].values, 8);
		memcpy(&v1, s.dec.views[0].values + 8, 8);
		CHECK(v0 == 1.5);
		CHECK(isnan(v1));
	}
	if (STEP_EXPECT(&s, ZC_EV_END))
	{
		CHECK_EQ(s.used, 16);
		CHECK_EQ(s.dec.total_rows, 2);
		CHECK_EQ(s.dec.offset, SB_FORMAT_EXAMPLE_LEN);
		CHECK(s.dec.state == ZC_STATE_DONE);
	}
	CHECK(zc_decoder_finish(&s.dec, 0, &s.err) == ZC_OK);
	step_free(&s);
	sb_free(&b);
}

/* Where the buffers of a one-column batch start in the stream. */
typedef struct Layout
{
	size_t		validity;
	size_t		values;
	size_t		offsets;
	size_t		data;
} Layout;

/*
 * Every wire type under every null encoding: build a one-column stream with
 * known bytes and check that each view points at exactly the right place
 * and shows exactly the right bytes.
 */
static void
test_every_type(void)
{
	static const char *const dict[] = {"x", "yy", "zzz", ""};
	static const char *const strs[] = {
		"", "a", "bc", "caf\xc3\xa9", "", "0123456789", "x", "", "end", "z"
	};
	const size_t n = 10;
	int			t;
	int			nulls;

	for (t = 1; t <= ZC_T_MAX; t++)
		for (nulls = 0; nulls <= 2; nulls++)
		{
			SbColumn	col = {0};
			SbBuf		b;
			Layout		lay = {0};
			uint8_t		validity[16];
			uint8_t		values[400];
			size_t		vlen = 0;
			size_t		valuelen = 0;
			int			width;
			size_t		i;
			Stepper		s;

			col.type = (uint8_t) t;
			col.nulls = (uint8_t) nulls;
			col.name = zc_wire_type_name(t);
			if (t == ZC_T_DICTIONARY)
			{
				col.index_type = ZC_T_INT16;
				col.value_type = ZC_T_UTF8;
			}
			if (t == ZC_T_TIMESTAMPTZ)
				col.tz = "Asia/Tokyo";
			sb_complete_column(&col);
			width = t == ZC_T_DICTIONARY ? 2 : zc_wire_type_width(t);

			sb_init(&b);
			sb_header(&b, 1, &col);
			if (t == ZC_T_DICTIONARY)
				sb_dictionary(&b, 0, dict, 4);
			sb_batch(&b, n);
			if (nulls != ZC_NULLS_NONE)
			{
				vlen = nulls == ZC_NULLS_BITMAP ? (n + 7) / 8 : n;
				for (i = 0; i < vlen; i++)
					validity[i] = (uint8_t) (nulls == ZC_NULLS_BITMAP ?
											 0xA5 + i : i % 3);
				lay.validity = b.len + 8;
				sb_buffer(&b, validity, vlen);
			}
			if (t == ZC_T_UTF8 || t == ZC_T_BINARY)
			{
				lay.offsets = b.len + 8;
				lay.data = b.len + 8 + (n + 1) * 8 + 8;
				sb_strings(&b, strs, n);
			}
			else if (t == ZC_T_UTF8_32 || t == ZC_T_BINARY_32)
			{
				const void *ptrs[10];
				size_t		lens[10];

				for (i = 0; i < n; i++)
				{
					ptrs[i] = strs[i];
					lens[i] = strlen(strs[i]);
				}
				lay.offsets = b.len + 8;
				lay.data = b.len + 8 + ZC_ALIGN8((n + 1) * 4) + 8;
				sb_varlen_from(&b, 4, false, ptrs, lens, n, 0);
			}
			else
			{
				valuelen = t == ZC_T_BITBOOL ? (n + 7) / 8 : n * width;
				for (i = 0; i < valuelen; i++)
					values[i] = (uint8_t) (i * 37 + t);
				if (t == ZC_T_DICTIONARY)
					for (i = 0; i < n; i++)
					{
						int16_t		code = (int16_t) ((int) i % 5 - 1);

						memcpy(values + i * 2, &code, 2);
					}
				lay.values = b.len + 8;
				sb_buffer(&b, values, valuelen);
			}
			sb_end(&b, n);

			step_init(&s, &b);
			STEP_EXPECT(&s, ZC_EV_HEADER);
			CHECK(strcmp(s.dec.columns[0].name, zc_wire_type_name(t)) == 0);
			CHECK(strcmp(s.dec.columns[0].tz,
						 t == ZC_T_TIMESTAMPTZ ? "Asia/Tokyo" : "") == 0);
			CHECK_EQ(s.dec.columns[0].tz_len, t == ZC_T_TIMESTAMPTZ ? 10 : 0);
			CHECK_EQ(s.dec.columns[0].type, t);
			CHECK_EQ(s.dec.columns[0].nulls, nulls);
			if (t == ZC_T_DICTIONARY)
			{
				CHECK_EQ(s.dec.columns[0].index_type, ZC_T_INT16);
				CHECK_EQ(s.dec.columns[0].value_type, ZC_T_UTF8);
				if (STEP_EXPECT(&s, ZC_EV_DICTIONARY))
				{
					CHECK_EQ(s.dec.dict.column, 0);
					CHECK_EQ(s.dec.dict.count, 4);
					CHECK_EQ(s.dec.dict_sizes[0], 4);
					CHECK_EQ(s.dec.dict.data_len, 6);
					CHECK(memcmp(s.dec.dict.data, "xyyzzz", 6) == 0);
					CHECK(s.dec.dict.offsets[0] == 0 && s.dec.dict.offsets[1] == 1 &&
						  s.dec.dict.offsets[2] == 3 && s.dec.dict.offsets[3] == 6 &&
						  s.dec.dict.offsets[4] == 6);
				}
			}
			if (STEP_EXPECT(&s, ZC_EV_BATCH))
			{
				const ZcColumnView *v = &s.dec.views[0];

				CHECK_EQ(s.dec.batch_rows, n);
				if (nulls == ZC_NULLS_NONE)
					CHECK(v->validity == NULL);
				else
				{
					CHECK(v->validity == s.buf + lay.validity);
					CHECK(memcmp(v->validity, validity, vlen) == 0);
					for (i = 0; i < n; i++)
					{
						bool		expected = nulls == ZC_NULLS_BITMAP ?
							((validity[i / 8] >> (i % 8)) & 1) != 0 :
							validity[i] == 0;

						CHECK(zc_row_valid(&s.dec.columns[0], v, i) == expected);
					}
				}
				if (t == ZC_T_UTF8 || t == ZC_T_BINARY)
				{
					int64_t		off = 0;

					CHECK(v->offsets == (const int64_t *) (s.buf + lay.offsets));
					CHECK(v->offsets32 == NULL);
					CHECK(v->data == s.buf + lay.data);
					CHECK(v->values == NULL);
					CHECK_EQ(v->data_len, 23);
					for (i = 0; i < n; i++)
					{
						size_t		l = strlen(strs[i]);

						CHECK(v->offsets[i] == off);
						CHECK((size_t) (v->offsets[i + 1] - v->offsets[i]) == l &&
							  memcmp(v->data + v->offsets[i], strs[i], l) == 0);
						off += (int64_t) l;
					}
				}
				else if (t == ZC_T_UTF8_32 || t == ZC_T_BINARY_32)
				{
					int64_t		off = 0;

					CHECK(v->offsets32 == (const int32_t *) (s.buf + lay.offsets));
					CHECK(v->offsets == NULL);
					CHECK(v->data == s.buf + lay.data);
					CHECK(v->values == NULL);
					CHECK_EQ(v->data_len, 23);
					CHECK_EQ(v->data_base, 0);
					for (i = 0; i < n; i++)
					{
						size_t		l = strlen(strs[i]);
						int64_t		got;
						const uint8_t *p = zc_varlen_value(v, i, &got);

						CHECK(v->offsets32[i] == off);
						CHECK((size_t) got == l && memcmp(p, strs[i], l) == 0);
						off += (int64_t) l;
					}
				}
				else
				{
					CHECK(v->values == s.buf + lay.values);
					CHECK(memcmp(v->values, values, valuelen) == 0);
					CHECK(v->offsets == NULL && v->offsets32 == NULL &&
						  v->data == NULL && v->data_len == 0);
					if (t == ZC_T_BITBOOL)
						for (i = 0; i < n; i++)
							CHECK(zc_bitbool_value(v, i) ==
								  (((values[i / 8] >> (i % 8)) & 1) != 0));
				}
			}
			STEP_EXPECT(&s, ZC_EV_END);
			CHECK(zc_decoder_finish(&s.dec, s.len - s.pos, &s.err) == ZC_OK);
			step_free(&s);
			sb_free(&b);
		}
}

/* Typed reading of values of a few wire types. */
static void
test_typed_values(void)
{
	SbColumn	cols[4] = {{0}};
	SbBuf		b;
	Stepper		s;
	int16_t		i16[3] = {-32768, 0, 32767};
	uint64_t	u64[3] = {0, 1, UINT64_MAX};
	int64_t		ts[3] = {INT64_MIN, 0, 1700000000000000000};
	float		f32[3] = {-0.0f, 3.25f, INFINITY};

	cols[0].type = ZC_T_INT16;
	cols[1].type = ZC_T_UINT64;
	cols[2].type = ZC_T_TIMESTAMP;
	cols[2].unit = ZC_UNIT_NS;
	cols[2].flags = ZC_FLAG_SENTINEL_NULL;
	cols[3].type = ZC_T_FLOAT32;
	sb_init(&b);
	sb_header(&b, 4, cols);
	sb_batch(&b, 3);
	sb_buffer(&b, i16, sizeof(i16));
	sb_buffer(&b, u64, sizeof(u64));
	sb_buffer(&b, ts, sizeof(ts));
	sb_buffer(&b, f32, sizeof(f32));
	sb_end(&b, 3);
	step_init(&s, &b);
	STEP_EXPECT(&s, ZC_EV_HEADER);
	CHECK_EQ(s.dec.columns[2].unit, ZC_UNIT_NS);
	CHECK_EQ(s.dec.columns[2].flags, ZC_FLAG_SENTINEL_NULL);
	CHECK(strcmp(s.dec.columns[0].name, "") == 0);
	if (STEP_EXPECT(&s, ZC_EV_BATCH))
	{
		const int16_t *a = (const int16_t *) s.dec.views[0].values;
		const uint64_t *u = (const uint64_t *) s.dec.views[1].values;
		const int64_t *t = (const int64_t *) s.dec.views[2].values;
		const float *f = (const float *) s.dec.views[3].values;

		CHECK(a[0] == -32768 && a[1] == 0 && a[2] == 32767);
		CHECK(u[0] == 0 && u[1] == 1 && u[2] == UINT64_MAX);
		CHECK(t[0] == INT64_MIN && t[2] == 1700000000000000000);
		CHECK(f[1] == 3.25f && isinf(f[2]) && signbit(f[0]));
		CHECK(((uintptr_t) a & 7) == 0 && ((uintptr_t) u & 7) == 0 &&
			  ((uintptr_t) t & 7) == 0 && ((uintptr_t) f & 7) == 0);
	}
	STEP_EXPECT(&s, ZC_EV_END);
	step_free(&s);
	sb_free(&b);
}

/* A one-column stream of a type with flags and unit, header and end only. */
static void
column_stream(SbBuf *b, uint8_t type, uint8_t flags, uint8_t unit)
{
	SbColumn	col = {0};

	col.type = type;
	col.flags = flags;
	col.unit = unit;
	col.name = "c";
	if (type == ZC_T_DICTIONARY)
	{
		col.index_type = ZC_T_INT32;
		col.value_type = ZC_T_UTF8;
	}
	if (type == ZC_T_DECIMAL128 || type == ZC_T_DECIMAL256)
		col.index_type = 10;
	sb_reset(b);
	sb_header(b, 1, &col);
	sb_end(b, 0);
}

/* The sentinel flag is accepted exactly on its five types; units likewise. */
static void
test_sentinel_and_units(void)
{
	SbBuf		b;
	int			t;
	int			u;

	sb_init(&b);
	for (t = 1; t <= ZC_T_MAX; t++)
	{
		bool		sentinel = t == ZC_T_FLOAT32 || t == ZC_T_FLOAT64 ||
			t == ZC_T_TIMESTAMP || t == ZC_T_TIMESTAMPTZ || t == ZC_T_DURATION;
		bool		timed = t == ZC_T_TIMESTAMP || t == ZC_T_TIMESTAMPTZ ||
			t == ZC_T_DURATION;
		bool		varlen = t == ZC_T_UTF8 || t == ZC_T_BINARY ||
			t == ZC_T_UTF8_32 || t == ZC_T_BINARY_32;
		uint8_t		u0 = t == ZC_T_TIME64 ? ZC_UNIT_US : 0;

		if (t == ZC_T_TIME32 || t == ZC_T_TIME64)
		{
			/* time32: s or ms; time64: us or ns; nothing else */
			for (u = 0; u <= 5; u++)
			{
				bool		ok = t == ZC_T_TIME32 ? u <= 1 : (u == 2 || u == 3);

				column_stream(&b, (uint8_t) t, 0, (uint8_t) u);
				if (ok)
					EXPECT_OK(&b);
				else
					EXPECT_ERROR(&b, t == ZC_T_TIME32 ?
								 "is not allowed for a time32 column (only 0, s, or 1, ms)" :
								 "is not allowed for a time64 column (only 2, us, or 3, ns)");
			}
		}
		column_stream(&b, (uint8_t) t, 0, u0);
		EXPECT_OK(&b);
		column_stream(&b, (uint8_t) t, ZC_FLAG_SENTINEL_NULL, u0);
		if (sentinel)
			EXPECT_OK(&b);
		else
			EXPECT_ERROR(&b, "the sentinel-is-null flag is not allowed for type");
		column_stream(&b, (uint8_t) t, ZC_FLAG_BASED_OFFSETS, u0);
		if (varlen)
			EXPECT_OK(&b);
		else
			EXPECT_ERROR(&b, "the based-offsets flag is not allowed for type");
		column_stream(&b, (uint8_t) t, 0x04, u0);
		EXPECT_ERROR(&b, "unrecognized flags 0x04");
		column_stream(&b, (uint8_t) t, 0x80 | ZC_FLAG_SENTINEL_NULL, u0);
		EXPECT_ERROR(&b, "unrecognized flags 0x81");
		if (t == ZC_T_TIME32 || t == ZC_T_TIME64)
			continue;
		for (u = 1; u <= 4; u++)
		{
			column_stream(&b, (uint8_t) t, 0, (uint8_t) u);
			if (timed && u <= 3)
				EXPECT_OK(&b);
			else if (timed)
				EXPECT_ERROR(&b, "unrecognized time unit 4");
			else
				EXPECT_ERROR(&b, "time unit");
		}
	}
	sb_free(&b);
}

/* Bitmap and byte mask NULLs, with sentinels on top. */
static void
test_null_encodings(void)
{
	SbColumn	cols[3] = {{0}};
	SbBuf		b;
	Stepper		s;
	bool		valid[19];
	double		d[19];
	size_t		i;

	for (i = 0; i < 19; i++)
	{
		valid[i] = (i % 3) != 1;
		d[i] = i == 5 ? NAN : (double) i;
	}
	cols[0].type = ZC_T_FLOAT64;
	cols[0].nulls = ZC_NULLS_BITMAP;
	cols[0].flags = ZC_FLAG_SENTINEL_NULL;
	cols[1].type = ZC_T_FLOAT64;
	cols[1].nulls = ZC_NULLS_BYTEMASK;
	cols[2].type = ZC_T_FLOAT64;
	sb_init(&b);
	sb_header(&b, 3, cols);
	sb_batch(&b, 19);
	sb_validity(&b, ZC_NULLS_BITMAP, valid, 19);
	sb_buffer(&b, d, sizeof(d));
	sb_validity(&b, ZC_NULLS_BYTEMASK, valid, 19);
	sb_buffer(&b, d, sizeof(d));
	sb_buffer(&b, d, sizeof(d));
	sb_end(&b, 19);
	step_init(&s, &b);
	STEP_EXPECT(&s, ZC_EV_HEADER);
	if (STEP_EXPECT(&s, ZC_EV_BATCH))
	{
		for (i = 0; i < 19; i++)
		{
			CHECK(zc_row_valid(&s.dec.columns[0], &s.dec.views[0], i) == valid[i]);
			CHECK(zc_row_valid(&s.dec.columns[1], &s.dec.views[1], i) == valid[i]);
			CHECK(zc_row_valid(&s.dec.columns[2], &s.dec.views[2], i));
		}
		/* bits past n are set by the builder and ignored */
		CHECK_EQ(s.dec.views[0].validity[2] & 0xF8, 0xF8);
	}
	STEP_EXPECT(&s, ZC_EV_END);
	step_free(&s);
	sb_free(&b);
}

/* Dictionary, batch, replaced dictionary, batch; dict views and sizes. */
static void
test_dictionary_flow(void)
{
	static const char *const d1[] = {"red", "green", "blue"};
	static const char *const d2[] = {"S", "M", "L", "XL", "XXL"};
	SbColumn	cols[2] = {{0}};
	SbBuf		b;
	Stepper		s;
	int8_t		c1[4] = {0, 2, -1, 1};
	int8_t		c2[4] = {4, 3, -1, 0};
	int64_t		other1[4] = {-1, -1, -1, -1};
	int64_t		other2[4] = {-1, 0, 100, -1};
	bool		valid2[4] = {true, true, false, true};

	cols[0].type = ZC_T_DICTIONARY;
	cols[0].index_type = ZC_T_INT8;
	cols[0].value_type = ZC_T_UTF8;
	cols[0].name = "size";
	cols[1].type = ZC_T_DICTIONARY;
	cols[1].index_type = ZC_T_INT64;
	cols[1].value_type = ZC_T_UTF8;
	cols[1].nulls = ZC_NULLS_BITMAP;
	cols[1].name = "late";
	sb_init(&b);
	sb_header(&b, 2, cols);
	sb_dictionary(&b, 0, d1, 3);
	sb_batch(&b, 4);
	sb_buffer(&b, c1, sizeof(c1));
	sb_validity(&b, ZC_NULLS_BITMAP, NULL, 4);
	sb_buffer(&b, other1, sizeof(other1));	/* no dictionary yet: all NULL */
	sb_dictionary(&b, 0, d2, 5);
	sb_dictionary(&b, 1, d1, 1);
	sb_batch(&b, 4);
	sb_buffer(&b, c2, sizeof(c2));
	sb_validity(&b, ZC_NULLS_BITMAP, valid2, 4);
	sb_buffer(&b, other2, sizeof(other2));	/* 100 is in a NULL row */
	sb_end(&b, 8);

	step_init(&s, &b);
	STEP_EXPECT(&s, ZC_EV_HEADER);
	CHECK(s.dec.dict_sizes[0] == -1 && s.dec.dict_sizes[1] == -1);
	if (STEP_EXPECT(&s, ZC_EV_DICTIONARY))
	{
		CHECK_EQ(s.dec.dict.column, 0);
		CHECK_EQ(s.dec.dict.count, 3);
		CHECK_EQ(s.dec.dict.data_len, 12);
		CHECK(memcmp(s.dec.dict.data + s.dec.dict.offsets[1], "green", 5) == 0);
		CHECK(s.dec.dict_sizes[0] == 3 && s.dec.dict_sizes[1] == -1);
	}
	if (STEP_EXPECT(&s, ZC_EV_BATCH))
	{
		CHECK(memcmp(s.dec.views[0].values, c1, 4) == 0);
		CHECK_EQ(s.dec.batches, 1);
	}
	if (STEP_EXPECT(&s, ZC_EV_DICTIONARY))
	{
		CHECK_EQ(s.dec.dict.count, 5);
		CHECK(memcmp(s.dec.dict.data + s.dec.dict.offsets[3], "XL", 2) == 0);
		CHECK_EQ(s.dec.dict_sizes[0], 5);
	}
	if (STEP_EXPECT(&s, ZC_EV_DICTIONARY))
	{
		CHECK_EQ(s.dec.dict.column, 1);
		CHECK_EQ(s.dec.dict.count, 1);
		CHECK_EQ(s.dec.dict_sizes[1], 1);
	}
	if (STEP_EXPECT(&s, ZC_EV_BATCH))
	{
		CHECK(memcmp(s.dec.views[0].values, c2, 4) == 0);
		CHECK(memcmp(s.dec.views[1].values, other2, sizeof(other2)) == 0);
		CHECK_EQ(s.dec.batches, 2);
		CHECK_EQ(s.dec.total_rows, 8);
	}
	STEP_EXPECT(&s, ZC_EV_END);
	CHECK(zc_decoder_finish(&s.dec, 0, &s.err) == ZC_OK);
	step_free(&s);

	/* code 4 is out of range before the dictionary is replaced */
	sb_reset(&b);
	sb_header(&b, 2, cols);
	sb_dictionary(&b, 0, d1, 3);
	sb_batch(&b, 4);
	sb_buffer(&b, c2, sizeof(c2));
	sb_validity(&b, ZC_NULLS_BITMAP, NULL, 4);
	sb_buffer(&b, other1, sizeof(other1));
	sb_end(&b, 4);
	EXPECT_ERROR(&b, "column 1 \"size\", batch 1: dictionary code 4 at row index 0 is out of range (the dictionary has 3 entries)");

	/* a replaced, smaller dictionary narrows the range */
	sb_reset(&b);
	sb_header(&b, 2, cols);
	sb_dictionary(&b, 0, d2, 5);
	sb_dictionary(&b, 0, d1, 3);
	sb_batch(&b, 4);
	sb_buffer(&b, c2, sizeof(c2));
	sb_validity(&b, ZC_NULLS_BITMAP, NULL, 4);
	sb_buffer(&b, other1, sizeof(other1));
	sb_end(&b, 4);
	EXPECT_ERROR(&b, "is out of range");

	/* a non-NULL code before the column has a dictionary */
	sb_reset(&b);
	sb_header(&b, 2, cols);
	sb_dictionary(&b, 0, d1, 3);
	sb_batch(&b, 4);
	sb_buffer(&b, c1, sizeof(c1));
	sb_validity(&b, ZC_NULLS_BITMAP, NULL, 4);
	sb_buffer(&b, other2, sizeof(other2));
	sb_end(&b, 4);
	EXPECT_ERROR(&b, "column 2 \"late\", batch 1: dictionary code 0 at row index 1, but the column has no dictionary yet");
	sb_free(&b);
}

/*
 * Dictionary code range checks for every index width and null encoding:
 * -1 and 0 .. size-1 pass, anything else in a valid row fails, and a bad
 * code in a NULL row is not inspected.
 */
static void
test_code_ranges(void)
{
	static const char *const d[] = {"a", "b", "c"};
	static const int64_t bad_codes[] = {-2, 3, 4, 127, -128, INT64_MAX, INT64_MIN};
	int			it;
	int			nulls;
	size_t		k;

	for (it = ZC_T_INT8; it <= ZC_T_INT64; it++)
		for (nulls = 0; nulls <= 2; nulls++)
			for (k = 0; k <= sizeof(bad_codes) / sizeof(bad_codes[0]); k++)
			{
				SbColumn	col = {0};
				SbBuf		b,
							codes;
				int			width = zc_wire_type_width(it);
				int64_t		row[12] = {0, 1, 2, -1, 2, 1, 0, -1, 0, 0, 1, 2};
				bool		valid[12];
				int64_t		bad;
				int			i;
				bool		representable;

				for (i = 0; i < 12; i++)
					valid[i] = i != 9;
				if (k < sizeof(bad_codes) / sizeof(bad_codes[0]))
				{
					bad = bad_codes[k];
					representable = width == 8 ||
						(bad >= -(INT64_C(1) << (width * 8 - 1)) &&
						 bad < (INT64_C(1) << (width * 8 - 1)));
					if (!representable)
						continue;
					row[10] = bad;
				}
				row[9] = 77;	/* NULL row when there is a null encoding */
				col.type = ZC_T_DICTIONARY;
				col.index_type = (uint8_t) it;
				col.value_type = ZC_T_UTF8;
				col.nulls = (uint8_t) nulls;
				col.name = "k";
				sb_init(&b);
				sb_init(&codes);
				for (i = 0; i < 12; i++)
					sb_put(&codes, &row[i], width);	/* little-endian */
				sb_header(&b, 1, &col);
				sb_dictionary(&b, 0, d, 3);
				sb_batch(&b, 12);
				sb_validity(&b, (uint8_t) nulls, valid, 12);
				sb_buffer(&b, codes.data, codes.len);
				sb_end(&b, 12);
				if (k == sizeof(bad_codes) / sizeof(bad_codes[0]) &&
					nulls != ZC_NULLS_NONE)
					EXPECT_OK(&b);
				else if (k == sizeof(bad_codes) / sizeof(bad_codes[0]))
					EXPECT_ERROR(&b, "code 77 at row index 9");
				else if (nulls == ZC_NULLS_NONE)
					EXPECT_ERROR(&b, "code 77 at row index 9");
				else if (row[10] < -1)
					EXPECT_ERROR(&b, "at row index 10 is negative");
				else
					EXPECT_ERROR(&b, "at row index 10 is out of range");
				sb_free(&codes);
				sb_free(&b);
			}
}

/* Several batches, a zero-row batch, the empty stream. */
static void
test_batches(void)
{
	SbColumn	cols[2] = {{0}};
	SbBuf		b;
	Stepper		s;
	int32_t		ids[5] = {1, 2, 3, 4, 5};
	static const char *const strs[] = {"a", "b", "c", "d", "e"};
	uint64_t	rows[4] = {3, 0, 5, 1};
	uint64_t	total = 0;
	int			i;

	cols[0].type = ZC_T_INT32;
	cols[0].name = "id";
	cols[1].type = ZC_T_UTF8;
	cols[1].nulls = ZC_NULLS_BYTEMASK;
	cols[1].name = "s";
	sb_init(&b);
	sb_header(&b, 2, cols);
	for (i = 0; i < 4; i++)
	{
		sb_batch(&b, rows[i]);
		sb_buffer(&b, ids, rows[i] * 4);
		sb_validity(&b, ZC_NULLS_BYTEMASK, NULL, rows[i]);
		sb_strings(&b, strs, rows[i]);
	}
	sb_end(&b, 9);
	step_init(&s, &b);
	STEP_EXPECT(&s, ZC_EV_HEADER);
	for (i = 0; i < 4; i++)
	{
		if (STEP_EXPECT(&s, ZC_EV_BATCH))
		{
			total += rows[i];
			CHECK_EQ(s.dec.batch_rows, rows[i]);
			CHECK_EQ(s.dec.batches, i + 1);
			CHECK_EQ(s.dec.total_rows, total);
			CHECK_EQ(s.dec.offset, s.pos);
			if (rows[i] == 0)
			{
				CHECK_EQ(s.dec.views[1].data_len, 0);
				CHECK(s.dec.views[1].offsets[0] == 0);
				CHECK(s.dec.views[0].values != NULL);
			}
			else
				CHECK(memcmp(s.dec.views[1].data, "abcde", rows[i]) == 0);
		}
	}
	if (STEP_EXPECT(&s, ZC_EV_END))
		CHECK_EQ(s.dec.offset, b.len);
	CHECK(zc_decoder_finish(&s.dec, 0, &s.err) == ZC_OK);
	step_free(&s);

	/* the empty stream: header and end marker, no rows */
	sb_reset(&b);
	sb_header(&b, 2, cols);
	sb_end(&b, 0);
	step_init(&s, &b);
	STEP_EXPECT(&s, ZC_EV_HEADER);
	if (STEP_EXPECT(&s, ZC_EV_END))
	{
		CHECK_EQ(s.dec.total_rows, 0);
		CHECK_EQ(s.dec.batches, 0);
	}
	CHECK(zc_decoder_finish(&s.dec, 0, &s.err) == ZC_OK);
	step_free(&s);

	/* only zero-row batches */
	sb_reset(&b);
	sb_header(&b, 2, cols);
	sb_batch(&b, 0);
	sb_buffer(&b, NULL, 0);
	sb_validity(&b, ZC_NULLS_BYTEMASK, NULL, 0);
	sb_strings(&b, NULL, 0);
	sb_end(&b, 0);
	EXPECT_OK(&b);
	sb_free(&b);
}

/* Names and time zones: copies, limits, odd bytes. */
static void
test_names(void)
{
	SbColumn	col = {0};
	SbBuf		b;
	Stepper		s;
	char		name[1100];
	char		tz[300];

	memset(name, 'n', sizeof(name));
	memset(tz, 't', sizeof(tz));
	sb_init(&b);

	/* the longest name and time zone allowed */
	name[1024] = '\0';
	tz[255] = '\0';
	col.type = ZC_T_TIMESTAMPTZ;
	col.name = name;
	col.tz = tz;
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	step_init(&s, &b);
	if (STEP_EXPECT(&s, ZC_EV_HEADER))
	{
		CHECK_EQ(strlen(s.dec.columns[0].name), 1024);
		CHECK_EQ(strlen(s.dec.columns[0].tz), 255);
		CHECK(s.dec.columns[0].name != (char *) s.buf + 36);
	}
	step_free(&s);

	/* one byte more */
	name[1024] = 'n';
	name[1025] = '\0';
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "column 1: name length 1025 exceeds the limit of 1024 bytes");
	name[1024] = '\0';
	tz[255] = 't';
	tz[256] = '\0';
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "time zone length 256 exceeds the limit of 255 bytes");

	/* a time zone on a timestamp column */
	col.type = ZC_T_TIMESTAMP;
	col.name = "t";
	col.tz = "UTC";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "column 1 \"t\": a time zone is set for type timestamp (only timestamptz has one)");

	/* a NUL byte in the name and in the time zone */
	col.type = ZC_T_TIMESTAMPTZ;
	col.name = "ab";
	col.tz = "UTC";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_set_u8(&b, 24 + 12 + 1, 0);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "the column name contains a NUL byte");
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_set_u8(&b, 24 + 12 + 3, 0);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "the time zone name contains a NUL byte");

	/* names must be UTF-8; control characters are allowed in them */
	col.name = "a\xff";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "column 1 \"a?\": the column name is not valid UTF-8 (byte 0xff at byte offset 37)");
	col.name = "a\xed\xa0\x80";	/* a surrogate */
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "the column name is not valid UTF-8 (byte 0xed at byte offset 37)");
	col.name = "a\nb\x1b[31m\xc3\xa9";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_OK(&b);

	/* time zone names must be printable ASCII */
	col.name = "t";
	col.tz = "UTC\n";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "column 1 \"t\": the time zone name has a byte that is not printable ASCII (0x0a at byte offset 40)");
	col.tz = "Europe/Z\xc3\xbcrich";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "the time zone name has a byte that is not printable ASCII (0xc3 at byte offset 45)");
	col.tz = "UTC+01:00";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_end(&b, 0);
	EXPECT_OK(&b);

	/* names in messages: invalid UTF-8 and control bytes become '?' */
	col.type = ZC_T_INT32;
	col.name = "a\xff\n\xc3\xa9z";
	col.tz = NULL;
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_set_u8(&b, 24 + 10, 1);	/* reserved field */
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "column 1 \"a??\xc3\xa9z\": non-zero reserved field");

	/* a cut-off sequence, a bad continuation byte, an overlong form */
	col.name = "\xe2\x82";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_set_u8(&b, 24 + 10, 1);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "column 1 \"??\": non-zero reserved field");
	col.name = "\xe2\x28\xa1.\xc0\xafok\xf4\x90\x80\x80\xed\xa0\x80";
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_set_u8(&b, 24 + 10, 1);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "column 1 \"?(?.??ok???????\": non-zero reserved field");

	/* long names are cut at a character boundary */
	memset(name, 0, sizeof(name));
	for (int i = 0; i < 30; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	col.name = name;
	sb_reset(&b);
	sb_header(&b, 1, &col);
	sb_set_u8(&b, 24 + 10, 1);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "\xc3\xa9\xc3\xa9...\": non-zero reserved field");
	sb_free(&b);
}

/* Descriptor-level rejections, on a two-column header. */
static void
test_descriptor_rejections(void)
{
	SbColumn	cols[2] = {{0}};
	SbBuf		b;
	const size_t d1 = 24 + 16;	/* the second descriptor */

	cols[0].type = ZC_T_INT64;
	cols[0].name = "x";
	cols[1].type = ZC_T_DICTIONARY;
	cols[1].index_type = ZC_T_INT32;
	cols[1].value_type = ZC_T_UTF8;
	cols[1].name = "cat";
	sb_init(&b);

#define HDR() do { sb_reset(&b); sb_header(&b, 2, cols); } while (0)
#define FIN() sb_end(&b, 0)

	HDR();
	FIN();
	EXPECT_OK(&b);

	HDR();
	sb_set_u8(&b, d1, 0);
	FIN();
	EXPECT_ERROR(&b, "column 2 \"cat\": unrecognized wire type 0 in its descriptor at byte offset 40");
	HDR();
	sb_set_u8(&b, d1, 28);
	FIN();
	EXPECT_ERROR(&b, "unrecognized wire type 28");
	HDR();
	sb_set_u8(&b, 24, 255);
	FIN();
	EXPECT_ERROR(&b, "column 1 \"x\": unrecognized wire type 255");
	HDR();
	sb_set_u8(&b, d1 + 1, 3);
	FIN();
	EXPECT_ERROR(&b, "unrecognized null encoding 3");
	HDR();
	sb_set_u8(&b, d1 + 4, 0);
	FIN();
	EXPECT_ERROR(&b, "dictionary index type 0 (unrecognized) is not int8, int16, int32, int64, uint8, uint16, uint32 or uint64");
	HDR();
	sb_set_u8(&b, d1 + 4, ZC_T_UINT8);
	FIN();
	EXPECT_OK(&b);
	HDR();
	sb_set_u8(&b, d1 + 4, ZC_T_UINT64);
	FIN();
	EXPECT_OK(&b);
	HDR();
	sb_set_u8(&b, d1 + 4, ZC_T_FLOAT32);
	FIN();
	EXPECT_ERROR(&b, "dictionary index type 10 (float32) is not");
	HDR();
	sb_set_u8(&b, d1 + 4, ZC_T_BOOL);
	FIN();
	EXPECT_ERROR(&b, "dictionary index type 1 (bool) is not");
	HDR();
	sb_set_u8(&b, d1 + 4, ZC_T_UTF8);
	FIN();
	EXPECT_ERROR(&b, "dictionary index type 16 (utf8)");
	HDR();
	sb_set_u8(&b, d1 + 5, 0);
	FIN();
	EXPECT_ERROR(&b, "dictionary value type 0 (unrecognized) is not utf8");
	HDR();
	sb_set_u8(&b, d1 + 5, ZC_T_BINARY);
	FIN();
	EXPECT_ERROR(&b, "dictionary value type 17 (binary) is not utf8");
	HDR();
	sb_set_u8(&b, 24 + 4, ZC_T_INT32);
	FIN();
	EXPECT_ERROR(&b, "column 1 \"x\": index type 4 is set for type int64");
	HDR();
	sb_set_u8(&b, 24 + 5, ZC_T_UTF8);
	FIN();
	EXPECT_ERROR(&b, "value type 16 is set for type int64");
	HDR();
	sb_set_u8(&b, d1 + 2, ZC_FLAG_SENTINEL_NULL);
	FIN();
	EXPECT_ERROR(&b, "sentinel-is-null flag is not allowed for type dictionary");
	HDR();
	sb_set_u16(&b, d1 + 10, 0x100);
	FIN();
	EXPECT_ERROR(&b, "column 2 \"cat\": non-zero reserved field in its descriptor at byte offset 50");
	HDR();
	sb_set_u8(&b, 24 + 13, 1);	/* padding after "x" */
	FIN();
	EXPECT_ERROR(&b, "column 1 \"x\": non-zero padding after its descriptor at byte offset 37");
	HDR();
	sb_set_u8(&b, d1 + 15, 7);	/* padding after "cat" */
	FIN();
	EXPECT_ERROR(&b, "non-zero padding after its descriptor at byte offset 55");

	/* a name that runs past the header */
	HDR();
	sb_set_u16(&b, d1 + 6, 5);
	FIN();
	EXPECT_ERROR(&b, "header length 56 disagrees with the column descriptors: the name and time zone of column 2 run past it");
	/* a name length that takes in the padding */
	HDR();
	sb_set_u16(&b, d1 + 6, 4);
	FIN();
	EXPECT_ERROR(&b, "column 2 \"cat?\": the column name contains a NUL byte");
	sb_free(&b);
#undef HDR
#undef FIN
}

/* Header-level rejections and the magic number. */
static void
test_header_rejections(void)
{
	SbColumn	col = {0};
	SbBuf		b;
	static const uint8_t pgcopy[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
	static const uint8_t csv[] = "id,name\n1,foo\n";
	static const uint8_t mangled[] = "\x89ZCI\n\x1a\n\x01\x00L\x00";
	static const uint8_t garbage[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
	static const uint8_t almost[] = {0x89, 'Z', 'C', 'X', 0, 0, 0, 0};
	int			i;

	col.type = ZC_T_INT32;
	col.name = "v";
	sb_init(&b);

	sb_put(&b, pgcopy, sizeof(pgcopy) - 1);
	EXPECT_ERROR(&b, "not a zcimport stream: it starts with the signature of a PostgreSQL binary COPY file");
	sb_reset(&b);
	sb_put(&b, pgcopy, 8);
	EXPECT_ERROR(&b, "PostgreSQL binary COPY file");
	/* too short to tell: the stream just ends */
	sb_reset(&b);
	sb_put(&b, pgcopy, 5);
	EXPECT_ERROR(&b, "stream ended inside the header");
	sb_reset(&b);
	sb_put(&b, csv, sizeof(csv) - 1);
	EXPECT_ERROR(&b, "not a zcimport stream: it starts with text (byte 0x69)");
	sb_reset(&b);
	sb_put(&b, "\xef\xbb\xbfid\n", 6);
	EXPECT_ERROR(&b, "starts with text");
	sb_reset(&b);
	sb_put(&b, mangled, sizeof(mangled) - 1);
	EXPECT_ERROR(&b, "not a zcimport stream: the magic number is damaged at byte offset 4, as by a text-mode transfer");
	sb_reset(&b);
	sb_put(&b, garbage, sizeof(garbage));
	EXPECT_ERROR(&b, "not a zcimport stream: bad magic number (byte 0x00 at byte offset 0)");
	sb_reset(&b);
	sb_put(&b, almost, 4);
	EXPECT_ERROR(&b, "bad magic number (byte 0x58 at byte offset 3)");

	/* each field of the fixed part */
#define HDR() do { sb_reset(&b); sb_header(&b, 1, &col); } while (0)
	HDR();
	sb_set_u16(&b, 8, 2);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "unsupported zcimport stream version 2 (this server reads version 1)");
	HDR();
	sb_set_u16(&b, 8, 0x0100);
	EXPECT_ERROR(&b, "unsupported zcimport stream version 256");
	HDR();
	sb_set_u8(&b, 10, 'B');
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "unsupported byte order 0x42");
	HDR();
	sb_set_u8(&b, 11, 1);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "non-zero flags 0x01 in the stream header");
	HDR();
	sb_set_u32(&b, 12, 0);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "the stream header declares no columns");
	HDR();
	sb_set_u32(&b, 12, 1601);
	EXPECT_ERROR(&b, "declares 1601 columns, more than the limit of 1600");
	HDR();
	sb_set_u32(&b, 12, UINT32_MAX);
	EXPECT_ERROR(&b, "more than the limit of 1600");
	HDR();
	sb_set_u32(&b, 12, 2);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "header length 40 is too small for 2 column descriptors (at least 56 bytes)");
	HDR();
	sb_set_u32(&b, 16, 44);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "header length 44 is not a multiple of 8");
	HDR();
	sb_set_u32(&b, 16, 0);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "header length 0 is too small");
	HDR();
	sb_set_u32(&b, 16, 16);
	EXPECT_ERROR(&b, "header length 16 is too small for 1 column descriptors");
	HDR();
	sb_set_u32(&b, 16, (1u << 20) + 8);
	EXPECT_ERROR(&b, "header length 1048584 exceeds the limit of 1048576 bytes");
	HDR();
	sb_set_u32(&b, 16, UINT32_MAX - 7);
	EXPECT_ERROR(&b, "exceeds the limit of 1048576 bytes");
	HDR();
	sb_end(&b, 0);
	EXPECT_ERROR_LIMIT(&b, 32, "header length 40 exceeds the limit of 32 bytes");
	/* a header longer than its descriptors */
	HDR();
	sb_set_u32(&b, 16, 48);
	sb_zeros(&b, 8);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "header length 48 disagrees with the column descriptors, which end at byte offset 40");
	HDR();
	sb_set_u32(&b, 20, 1);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "non-zero reserved field in the stream header");
	for (i = 0; i < 3; i++)
	{
		HDR();
		sb_set_u8(&b, 21 + i, 0x10);
		sb_end(&b, 0);
		EXPECT_ERROR(&b, "non-zero reserved field in the stream header");
	}
	/* 1600 columns are fine */
	{
		SbColumn   *many = calloc(1600, sizeof(SbColumn));

		for (i = 0; i < 1600; i++)
		{
			many[i].type = ZC_T_BOOL;
			many[i].name = "b";
		}
		sb_reset(&b);
		sb_header(&b, 1600, many);
		sb_end(&b, 0);
		EXPECT_OK(&b);
		free(many);
	}
#undef HDR

	/* no allocator */
	{
		ZcDecoder	dec;
		ZcError		err;
		size_t		used;
		ZcEvent		ev;
		uint8_t    *copy;

		sb_reset(&b);
		sb_header(&b, 1, &col);
		copy = exact_copy(b.data, b.len);
		zc_decoder_init(&dec, NULL, NULL, 0);
		CHECK(zc_decoder_next(&dec, copy, b.len, &used, &ev, &err) == ZC_ERROR);
		CHECK(strstr(err.message, "no allocator") != NULL);
		free_copy(copy);
	}

	/* allocation failure */
	{
		ZcDecoder	dec;
		ZcError		err;
		size_t		used;
		ZcEvent		ev;
		uint8_t    *copy;

		sb_reset(&b);
		sb_header(&b, 1, &col);
		copy = exact_copy(b.data, b.len);
		zc_decoder_init(&dec, failing_alloc, NULL, 0);
		CHECK(zc_decoder_next(&dec, copy, b.len, &used, &ev, &err) == ZC_ERROR);
		CHECK(strstr(err.message, "out of memory") != NULL);
		free_copy(copy);
	}
	sb_free(&b);
}

/* A two-column stream (int16 with bitmap, utf8) used by message tests. */
typedef struct MsgStream
{
	SbBuf		b;
	size_t		batch;			/* start of the first batch */
	size_t		validity;		/* its buffers' length prefixes */
	size_t		values;
	size_t		offsets;
	size_t		data;
	size_t		end;			/* the end marker */
} MsgStream;

/* Build the message-test stream: one batch of 3 rows. */
static void
msg_stream(MsgStream *m)
{
	SbColumn	cols[2] = {{0}};
	int16_t		v[3] = {1, 2, 3};
	static const char *const s[] = {"ab", "", "cde"};

	cols[0].type = ZC_T_INT16;
	cols[0].nulls = ZC_NULLS_BITMAP;
	cols[0].name = "n";
	cols[1].type = ZC_T_UTF8;
	cols[1].name = "s";
	sb_init(&m->b);
	sb_header(&m->b, 2, cols);
	m->batch = m->b.len;
	sb_batch(&m->b, 3);
	m->validity = m->b.len;
	sb_validity(&m->b, ZC_NULLS_BITMAP, NULL, 3);
	m->values = m->b.len;
	sb_buffer(&m->b, v, sizeof(v));
	m->offsets = m->b.len;
	m->data = m->offsets + 8 + 32;
	sb_strings(&m->b, s, 3);
	m->end = m->b.len;
	sb_end(&m->b, 3);
}

/* Message-level rejections. */
static void
test_message_rejections(void)
{
	MsgStream	m;
	SbBuf		b;
	SbColumn	cols[2] = {{0}};
	static const char *const d[] = {"x", "y"};

	msg_stream(&m);
	EXPECT_OK(&m.b);

	/* unknown message kinds */
	sb_set_u32(&m.b, m.batch, 0);
	EXPECT_ERROR(&m.b, "unrecognized message kind 0 at byte offset 56 (after 0 batches)");
	sb_set_u32(&m.b, m.batch, 4);
	EXPECT_ERROR(&m.b, "unrecognized message kind 4");
	sb_set_u32(&m.b, m.batch, UINT32_MAX);
	EXPECT_ERROR(&m.b, "unrecognized message kind 4294967295");
	sb_set_u32(&m.b, m.batch, ZC_MSG_BATCH);

	/* reserved fields */
	sb_set_u32(&m.b, m.batch + 4, 1);
	EXPECT_ERROR(&m.b, "batch 1 at byte offset 56: non-zero reserved field in the message");
	sb_set_u32(&m.b, m.batch + 4, 0);
	sb_set_u32(&m.b, m.end + 4, 2);
	EXPECT_ERROR(&m.b, "end marker at byte offset 160: non-zero reserved field");
	sb_set_u32(&m.b, m.end + 4, 0);

	/* row counts */
	sb_set_u64(&m.b, m.batch + 8, (uint64_t) INT32_MAX + 1);
	EXPECT_ERROR(&m.b, "batch 1 at byte offset 56 has 2147483648 rows, more than the limit of 2147483647");
	sb_set_u64(&m.b, m.batch + 8, UINT64_MAX);
	EXPECT_ERROR(&m.b, "more than the limit of 2147483647");
	sb_set_u64(&m.b, m.batch + 8, INT32_MAX);
	EXPECT_ERROR(&m.b, "has 2147483647 rows, which take at least");
	sb_set_u64(&m.b, m.batch + 8, 4);
	EXPECT_ERROR(&m.b, "column 1 \"n\", batch 1: the values buffer at byte offset 88 has length 6, expected 8 (4 rows of int16)");
	sb_set_u64(&m.b, m.batch + 8, 9);
	EXPECT_ERROR(&m.b, "column 1 \"n\", batch 1: the validity bitmap buffer at byte offset 72 has length 1, expected 2 (9 rows)");
	sb_set_u64(&m.b, m.batch + 8, 3);

	/* buffer lengths that disagree with the row count */
	sb_set_u64(&m.b, m.values, 8);
	EXPECT_ERROR(&m.b, "column 1 \"n\", batch 1: the values buffer at byte offset 88 has length 8, expected 6 (3 rows of int16)");
	sb_set_u64(&m.b, m.values, 6);
	sb_set_u64(&m.b, m.offsets, 24);
	EXPECT_ERROR(&m.b, "column 2 \"s\", batch 1: the offsets buffer at byte offset 104 has length 24, expected 32");
	sb_set_u64(&m.b, m.offsets, 32);
	sb_set_u64(&m.b, m.data, UINT64_MAX);
	EXPECT_ERROR(&m.b, "column 2 \"s\", batch 1: the data buffer at byte offset 144 has length 18446744073709551615, too large for the limit");
	sb_set_u64(&m.b, m.data, UINT64_MAX - 6);
	EXPECT_ERROR(&m.b, "too large for the limit");
	sb_set_u64(&m.b, m.data, (1u << 30) - 88);
	EXPECT_ERROR(&m.b, "too large for the limit of 1073741824 bytes per message");
	sb_set_u64(&m.b, m.data, 5);

	/* padding after buffers */
	sb_set_u8(&m.b, m.validity + 8 + 3, 1);
	EXPECT_ERROR(&m.b, "column 1 \"n\", batch 1: non-zero padding after the validity bitmap buffer at byte offset 72");
	sb_set_u8(&m.b, m.validity + 8 + 3, 0);
	sb_set_u8(&m.b, m.values + 8 + 7, 0x80);
	EXPECT_ERROR(&m.b, "non-zero padding after the values buffer at byte offset 88");
	sb_set_u8(&m.b, m.values + 8 + 7, 0);
	sb_set_u8(&m.b, m.data + 8 + 5, 1);
	EXPECT_ERROR(&m.b, "non-zero padding after the data buffer at byte offset 144");
	sb_set_u8(&m.b, m.data + 8 + 5, 0);

	/* offsets */
	sb_set_u64(&m.b, m.offsets + 8, (uint64_t) -1);
	EXPECT_ERROR(&m.b, "column 2 \"s\", batch 1: offsets[0] = -1 is negative (offsets buffer at byte offset 104)");
	sb_set_u64(&m.b, m.offsets + 8, 3);
	EXPECT_ERROR(&m.b, "offsets[1] = 2 is less than offsets[0] = 3");
	sb_set_u64(&m.b, m.offsets + 8, 0);
	sb_set_u64(&m.b, m.offsets + 16, (uint64_t) INT64_MIN);
	EXPECT_ERROR(&m.b, "offsets[1] = -9223372036854775808 is less than offsets[0] = 0");
	sb_set_u64(&m.b, m.offsets + 16, 2);
	sb_set_u64(&m.b, m.offsets + 32, 6);
	EXPECT_ERROR(&m.b, "offsets[3] = 6 is beyond the end of the data buffer of 5 bytes");
	sb_set_u64(&m.b, m.offsets + 32, INT64_MAX);
	EXPECT_ERROR(&m.b, "offsets[3] = 9223372036854775807 is beyond the end");
	sb_set_u64(&m.b, m.offsets + 32, 5);
	EXPECT_OK(&m.b);

	/* the end marker's total */
	sb_set_u64(&m.b, m.end + 8, 4);
	EXPECT_ERROR(&m.b, "end marker at byte offset 160 says the stream has 4 rows, but its 1 batches held 3");
	sb_set_u64(&m.b, m.end + 8, 3);

	/* the message size limit */
	EXPECT_ERROR_LIMIT(&m.b, 88, "batch 1 at byte offset 56 has 3 rows, which take at least 96 bytes, more than the limit of 88 bytes per message");
	EXPECT_ERROR_LIMIT(&m.b, 96, "the data buffer at byte offset 144 has length 5, too large for the limit of 96 bytes per message");
	expect_error_at(m.b.data, m.b.len, 8, "header length 56 exceeds the limit of 8 bytes", __FILE__, __LINE__);
	{
		Run		   *r = malloc(sizeof(Run));

		run_stream(m.b.data, m.b.len, 0, 0, 104, r);
		CHECKF(r->status == ZC_OK, "limit of exactly 104 bytes: %s", r->message);
		free(r);
	}

	/* a limit that is not a multiple of 8: the data's padding crosses it */
	EXPECT_ERROR_LIMIT(&m.b, 100, "the data buffer at byte offset 144 has length 5, too large for the limit of 100 bytes per message");
	/* an unlimited decoder still refuses lengths that cannot be summed */
	sb_set_u64(&m.b, m.data, UINT64_MAX - 7);
	EXPECT_ERROR_LIMIT(&m.b, UINT64_MAX, "has length 18446744073709551608, too large for the limit of 4611686018427387904 bytes per message");
	sb_set_u64(&m.b, m.data, 5);
	{
		Run		   *r = malloc(sizeof(Run));

		run_stream(m.b.data, m.b.len, 0, 0, UINT64_MAX, r);
		CHECKF(r->status == ZC_OK, "no limit: %s", r->message);
		free(r);
	}

	/* dictionary messages */
	cols[0].type = ZC_T_INT8;
	cols[0].name = "i";
	cols[1].type = ZC_T_DICTIONARY;
	cols[1].index_type = ZC_T_INT16;
	cols[1].value_type = ZC_T_UTF8;
	cols[1].name = "d";
	sb_init(&b);
	sb_header(&b, 2, cols);
	sb_dictionary(&b, 0, d, 2);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "dictionary message at byte offset 56 is for column 1 \"i\", which is of type int8, not dictionary");
	sb_reset(&b);
	sb_header(&b, 2, cols);
	sb_dictionary(&b, 2, d, 2);
	sb_end(&b, 0);
	EXPECT_ERROR(&b, "dictionary message at byte offset 56 is for column index 2, but the stream has 2 columns");
	sb_set_u32(&b, 56 + 4, UINT32_MAX);
	EXPECT_ERROR(&b, "is for column index 4294967295");
	sb_reset(&b);
	sb_header(&b, 2, cols);
	sb_dictionary(&b, 1, d, 2);
	sb_end(&b, 0);
	EXPECT_OK(&b);
	sb_set_u64(&b, 56 + 8, (uint64_t) INT32_MAX + 1);
	EXPECT_ERROR(&b, "dictionary message at byte offset 56 for column 2 \"d\" has 2147483648 entries, more than the limit of 2147483647");
	sb_set_u64(&b, 56 + 8, 3);
	EXPECT_ERROR(&b, "dictionary message at byte offset 56 for column 2 \"d\": the offsets buffer at byte offset 72 has length 24, expected 32");
	sb_set_u64(&b, 56 + 8, 2);
	sb_set_u64(&b, 56 + 24 + 8, 3);
	EXPECT_ERROR(&b, "dictionary message for column 2 \"d\": offsets[2] = 2 is less than offsets[1] = 3");
	sb_set_u64(&b, 56 + 24 + 8, 1);
	sb_set_u64(&b, 56 + 24 + 16, 9);
	EXPECT_ERROR(&b, "offsets[2] = 9 is beyond the end of the data buffer of 2 bytes");
	sb_set_u64(&b, 56 + 24 + 16, 2);
	sb_set_u64(&b, 56 + 24, (uint64_t) -1);
	EXPECT_ERROR(&b, "offsets[0] = -1 is negative");
	sb_set_u64(&b, 56 + 24, 0);
	sb_set_u8(&b, 56 + 48 + 8 + 2, 1);
	EXPECT_ERROR(&b, "non-zero padding after the data buffer at byte offset 104");
	sb_set_u8(&b, 56 + 48 + 8 + 2, 0);
	EXPECT_OK(&b);
	sb_set_u64(&b, 56 + 8, 3);
	EXPECT_ERROR_LIMIT(&b, 56, "has 3 entries, which take at least 64 bytes, more than the limit of 56 bytes per message");
	sb_set_u64(&b, 56 + 8, 2);
	EXPECT_ERROR_LIMIT(&b, 56, "the data buffer at byte offset 104 has length 2, too large for the limit of 56 bytes per message");
	sb_reset(&b);
	sb_header(&b, 2, cols);
	sb_message(&b, ZC_MSG_DICTIONARY, 1, 0);
	sb_buffer(&b, "\0\0\0\0\0\0\0\0", 8);
	sb_u64(&b, (uint64_t) 1 << 62);
	EXPECT_ERROR(&b, "the data buffer at byte offset 88 has length 4611686018427387904, too large for the limit");
	sb_free(&b);
	sb_free(&m.b);
}

/* Data after the end marker, a stream that ends early, a failed decoder. */
static void
test_stream_ends(void)
{
	MsgStream	m;
	Run		   *r = malloc(sizeof(Run));
	SbBuf		b;
	ZcDecoder	dec;
	Arena		arena = {0};
	ZcError		err;
	size_t		used;
	ZcEvent		ev;
	uint8_t    *copy;
	size_t		pos;
	int			i;

	msg_stream(&m);
	sb_init(&b);
	sb_put(&b, m.b.data, m.b.len);
	sb_zeros(&b, 8);
	EXPECT_ERROR(&b, "unexpected data after the end marker at byte offset 176");
	sb_reset(&b);
	sb_put(&b, m.b.data, m.b.len);
	sb_u8(&b, 0);
	EXPECT_ERROR(&b, "unexpected data after the end marker");
	sb_reset(&b);
	sb_put(&b, m.b.data, m.b.len);
	sb_end(&b, 3);
	EXPECT_ERROR(&b, "unexpected data after the end marker");

	/* finish with bytes pending after the end marker */
	copy = exact_copy(m.b.data, m.b.len);
	zc_decoder_init(&dec, arena_alloc, &arena, 0);
	pos = 0;
	for (i = 0; i < 3; i++)
	{
		CHECK(zc_decoder_next(&dec, copy + pos, m.b.len - pos, &used, &ev, &err) == ZC_OK);
		pos += used;
	}
	CHECK_EQ(pos, m.b.len);
	CHECK(dec.state == ZC_STATE_DONE);
	CHECK(zc_decoder_next(&dec, copy, 0, &used, &ev, &err) == ZC_NEED_MORE);
	CHECK(used > 0);
	CHECK(zc_decoder_finish(&dec, 3, &err) == ZC_ERROR);
	CHECK(strstr(err.message, "unexpected data after the end marker") != NULL);
	CHECK(zc_decoder_finish(&dec, 0, &err) == ZC_OK);
	CHECK(zc_decoder_next(&dec, copy, 8, &used, &ev, &err) == ZC_ERROR);
	CHECK(strstr(err.message, "unexpected data after the end marker at byte offset 176") != NULL);
	CHECK(dec.state == ZC_STATE_FAILED);
	CHECK(zc_decoder_next(&dec, copy, 0, &used, &ev, &err) == ZC_ERROR);
	CHECK(strstr(err.message, "already failed") != NULL);
	CHECK(zc_decoder_finish(&dec, 0, &err) == ZC_ERROR);
	free_copy(copy);
	arena_free(&arena);
	sb_free(&m.b);

	/* ends early */
	msg_stream(&m);
	run_stream(m.b.data, 0, 0, 0, 0, r);
	CHECK(r->status == ZC_ERROR && strstr(r->message, "the stream is empty") != NULL);
	run_stream(m.b.data, 30, 0, 0, 0, r);
	CHECK(r->status == ZC_ERROR && strstr(r->message, "stream ended inside the header, after 30 bytes") != NULL);
	run_stream(m.b.data, 56, 0, 0, 0, r);
	CHECK(r->status == ZC_ERROR && strstr(r->message, "stream ended after 0 batches (0 rows) without an end marker") != NULL);
	run_stream(m.b.data, 100, 0, 0, 0, r);
	CHECK(r->status == ZC_ERROR && strstr(r->message, "stream ended inside a message at byte offset 56, after 0 batches") != NULL);
	run_stream(m.b.data, m.end, 0, 0, 0, r);
	CHECK(r->status == ZC_ERROR && strstr(r->message, "stream ended after 1 batches (3 rows) without an end marker") != NULL);
	run_stream(m.b.data, m.end + 8, 1, 0, 0, r);
	CHECK(r->status == ZC_ERROR && strstr(r->message, "stream ended inside a message at byte offset 160, after 1 batches") != NULL);

	/* three batches, no end marker */
	sb_reset(&b);
	sb_put(&b, m.b.data, m.end);
	for (i = 0; i < 2; i++)
		sb_put(&b, m.b.data + m.batch, m.end - m.batch);
	run_stream(b.data, b.len, 0, 0, 0, r);
	CHECKF(r->status == ZC_ERROR && strstr(r->message, "stream ended after 3 batches (9 rows) without an end marker") != NULL,
		   "%s", r->message);

	/* a misaligned buffer is refused */
	{
		uint8_t    *mis = malloc(m.b.len + 8);

		memcpy(mis + 4, m.b.data, m.b.len);
		zc_decoder_init(&dec, arena_alloc, &arena, 0);
		CHECK(zc_decoder_next(&dec, mis + 4, m.b.len, &used, &ev, &err) == ZC_ERROR);
		CHECK(strstr(err.message, "not 8-byte aligned") != NULL);
		free(mis);
		arena_free(&arena);
	}
	sb_free(&b);
	sb_free(&m.b);
	free(r);
}

/* NEED_MORE hints: the tightest bound the bytes so far allow. */
static void
test_need_more_hints(void)
{
	MsgStream	m;
	ZcDecoder	dec;
	Arena		arena = {0};
	ZcError		err;
	size_t		used;
	ZcEvent		ev;
	uint8_t    *copy;
	const uint8_t *batch;
	size_t		k;
	/* header 56; batch: 16 + (8+8) + (8+8) + (8+32) + (8+8) = 104 */
	struct
	{
		size_t		len;
		size_t		need;
	}			cases[] = {
		{0, 16}, {8, 16}, {15, 16}, {16, 96}, {24, 96}, {40, 96},
		{88, 96}, {95, 96}, {96, 104}, {103, 104}
	};

	msg_stream(&m);
	copy = exact_copy(m.b.data, m.b.len);

	zc_decoder_init(&dec, arena_alloc, &arena, 0);
	CHECK(zc_decoder_next(&dec, copy, 0, &used, &ev, &err) == ZC_NEED_MORE && used == 24);
	CHECK(zc_decoder_next(&dec, copy, 7, &used, &ev, &err) == ZC_NEED_MORE && used == 24);
	CHECK(zc_decoder_next(&dec, copy, 24, &used, &ev, &err) == ZC_NEED_MORE && used == 56);
	CHECK(zc_decoder_next(&dec, copy, 55, &used, &ev, &err) == ZC_NEED_MORE && used == 56);
	CHECK(zc_decoder_next(&dec, copy, 56, &used, &ev, &err) == ZC_OK && used == 56);
	batch = copy + 56;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
	{
		CHECKF(zc_decoder_next(&dec, batch, cases[k].len, &used, &ev, &err) == ZC_NEED_MORE &&
			   used == cases[k].need, "len %zu: need %zu, got %zu",
			   cases[k].len, cases[k].need, used);
	}
	CHECK(zc_decoder_next(&dec, batch, 104, &used, &ev, &err) == ZC_OK && used == 104);
	CHECK(ev == ZC_EV_BATCH);
	free_copy(copy);
	arena_free(&arena);
	sb_free(&m.b);
}

/* The sample streams decode cleanly and the same way however they are split. */
static void
test_samples_and_chunking(Samples *all)
{
	Run		   *whole = malloc(sizeof(Run));
	Run		   *other = malloc(sizeof(Run));
	static const long fixed[] = {1, 2, 3, 7, 8, 9, 16, 64, 1000};
	int			i;
	size_t		k;
	uint64_t	seed;

	for (i = 0; i < all->n; i++)
	{
		const Sample *s = &all->s[i];

		run_stream(s->data, s->len, 0, 0, 0, whole);
		CHECKF(whole->status == ZC_OK, "sample %s: %s", s->name, whole->message);
		CHECKF(whole->nev >= 2 && whole->ev[0].event == ZC_EV_HEADER &&
			   whole->ev[whole->nev - 1].event == ZC_EV_END,
			   "sample %s events", s->name);
		CHECK(whole->bad_hints == 0 && whole->short_hints == 0);
		for (k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
		{
			run_stream(s->data, s->len, fixed[k], 0, 0, other);
			CHECKF(same_run(whole, other), "sample %s in chunks of %ld",
				   s->name, fixed[k]);
			CHECK(other->bad_hints == 0 && other->short_hints == 0);
		}
		for (seed = 1; seed <= 8; seed++)
		{
			run_stream(s->data, s->len, seed % 2 ? -13 : -300, seed, 0, other);
			CHECKF(same_run(whole, other), "sample %s in random chunks, seed %llu",
				   s->name, (unsigned long long) seed);
			CHECK(other->bad_hints == 0 && other->short_hints == 0);
		}
	}
	free(whole);
	free(other);
}

/*
 * Truncate each sample at every byte offset: the decoder must only ever ask
 * for more (a prefix of a valid stream breaks no rule), its hints must be
 * true lower bounds of the unit it is waiting for, and zc_decoder_finish()
 * must reject the prefix.
 */
static void
test_truncation(Samples *all)
{
	Run		   *full = malloc(sizeof(Run));
	Run		   *r = malloc(sizeof(Run));
	int			i;

	for (i = 0; i < all->n; i++)
	{
		const Sample *s = &all->s[i];
		size_t		k;
		int			bad_status = 0,
					bad_message = 0,
					bad_hint = 0;

		run_stream(s->data, s->len, 0, 0, 0, full);
		for (k = 0; k < s->len; k++)
		{
			int			e;

			run_stream(s->data, k, k % 3 == 0 ? 0 : -(long) (k % 29) - 1,
					   k, 0, r);
			if (r->status != ZC_ERROR || r->next_failed)
				bad_status++;
			if (strstr(r->message, "ended") == NULL &&
				strstr(r->message, "empty") == NULL)
				bad_message++;
			if (r->bad_hints || r->short_hints)
				bad_hint++;
			/* the hint must not exceed the unit the decoder waits for */
			for (e = 0; e < full->nev; e++)
				if (full->ev[e].offset == r->last_hint_offset)
				{
					if (r->last_hint > full->ev[e].used ||
						r->last_hint_offset + r->last_hint <= k)
						bad_hint++;
					break;
				}
		}
		CHECKF(bad_status == 0, "sample %s: %d prefixes not rejected by finish alone",
			   s->name, bad_status);
		CHECKF(bad_message == 0, "sample %s: %d prefixes with an odd message",
			   s->name, bad_message);
		CHECKF(bad_hint == 0, "sample %s: %d prefixes with a bad hint",
			   s->name, bad_hint);
	}
	free(full);
	free(r);
}

/*
 * Flip every bit of the smaller samples: the decoder may accept or reject,
 * but must not crash or read out of bounds (ASan), and must say the same
 * whether the stream arrives whole or in pieces.
 */
static void
test_bit_flips(Samples *all)
{
	Run		   *whole = malloc(sizeof(Run));
	Run		   *pieces = malloc(sizeof(Run));
	int			i;
	long		flips = 0,
				rejected = 0;

	for (i = 0; i < all->n; i++)
	{
		Sample	   *s = &all->s[i];
		size_t		bit;
		int			differ = 0,
					badhint = 0;

		if (s->len > 1300)
			continue;
		for (bit = 0; bit < s->len * 8; bit++)
		{
			s->data[bit / 8] ^= (uint8_t) (1u << (bit % 8));
			run_stream(s->data, s->len, 0, 0, 0, whole);
			run_stream(s->data, s->len, -40, bit, 0, pieces);
			s->data[bit / 8] ^= (uint8_t) (1u << (bit % 8));
			flips++;
			if (whole->status != ZC_OK)
				rejected++;
			if (!same_run(whole, pieces))
			{
				if (differ++ == 0)
					fprintf(stderr, "  %s bit %zu: \"%s\" vs \"%s\"\n", s->name,
							bit, whole->message, pieces->message);
			}
			if (whole->bad_hints || whole->short_hints ||
				pieces->bad_hints || pieces->short_hints)
				badhint++;
		}
		CHECKF(differ == 0, "sample %s: %d flips decode differently in pieces",
			   s->name, differ);
		CHECKF(badhint == 0, "sample %s: %d flips with bad hints", s->name,
			   badhint);
	}
	printf("  bit flips: %ld streams, %ld rejected\n", flips, rejected);
	CHECK(rejected > flips / 2);
	free(whole);
	free(pieces);
}

/* A large batch, to exercise the O(rows) loops and time them. */
static void
test_large_batch(void)
{
	const size_t n = 2000000;
	SbColumn	cols[3] = {{0}};
	static const char *const d[] = {"a", "b", "c", "d"};
	SbBuf		b;
	Stepper		s;
	int64_t    *offsets = malloc((n + 1) * 8);
	int32_t    *codes = malloc(n * 4);
	uint8_t    *validity = malloc((n + 7) / 8);
	uint8_t    *data = malloc(n);
	size_t		i;
	clock_t		t0;
	double		secs;

	for (i = 0; i <= n; i++)
		offsets[i] = (int64_t) (i / 2);
	for (i = 0; i < n; i++)
	{
		codes[i] = (int32_t) (i % 5) - 1;
		data[i] = 'x';
	}
	for (i = 0; i < (n + 7) / 8; i++)
		validity[i] = 0xEF;
	cols[0].type = ZC_T_UTF8;
	cols[1].type = ZC_T_DICTIONARY;
	cols[1].index_type = ZC_T_INT32;
	cols[1].value_type = ZC_T_UTF8;
	cols[2].type = ZC_T_DICTIONARY;
	cols[2].index_type = ZC_T_INT32;
	cols[2].value_type = ZC_T_UTF8;
	cols[2].nulls = ZC_NULLS_BITMAP;
	sb_init(&b);
	sb_header(&b, 3, cols);
	sb_dictionary(&b, 1, d, 4);
	sb_dictionary(&b, 2, d, 4);
	sb_batch(&b, n);
	sb_buffer(&b, offsets, (n + 1) * 8);
	sb_buffer(&b, data, n / 2);
	sb_buffer(&b, codes, n * 4);
	sb_buffer(&b, validity, (n + 7) / 8);
	sb_buffer(&b, codes, n * 4);
	sb_end(&b, n);
	step_init(&s, &b);
	STEP_EXPECT(&s, ZC_EV_HEADER);
	STEP_EXPECT(&s, ZC_EV_DICTIONARY);
	STEP_EXPECT(&s, ZC_EV_DICTIONARY);
	t0 = clock();
	if (STEP_EXPECT(&s, ZC_EV_BATCH))
		CHECK_EQ(s.dec.batch_rows, n);
	secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
	printf("  large batch: %zu rows x 3 columns checked in %.1f ms (sanitized build)\n",
		   n, secs * 1000);
	STEP_EXPECT(&s, ZC_EV_END);
	step_free(&s);

	/* the last row's code is bad: found after the fast loop fails */
	codes[n - 1] = 4;
	sb_reset(&b);
	sb_header(&b, 3, cols);
	sb_dictionary(&b, 1, d, 4);
	sb_dictionary(&b, 2, d, 4);
	sb_batch(&b, n);
	sb_buffer(&b, offsets, (n + 1) * 8);
	sb_buffer(&b, data, n / 2);
	sb_buffer(&b, codes, n * 4);
	sb_buffer(&b, validity, (n + 7) / 8);
	sb_buffer(&b, codes, n * 4);
	sb_end(&b, n);
	step_init(&s, &b);
	STEP_EXPECT(&s, ZC_EV_HEADER);
	STEP_EXPECT(&s, ZC_EV_DICTIONARY);
	STEP_EXPECT(&s, ZC_EV_DICTIONARY);
	CHECK(step(&s, &(ZcEvent) {0}) == ZC_ERROR);
	CHECKF(strstr(s.err.message, "column 2, batch 1: dictionary code 4 at row index 1999999 is out of range") != NULL,
		   "%s", s.err.message);
	step_free(&s);

	sb_free(&b);
	free(offsets);
	free(codes);
	free(validity);
	free(data);
}

/* main: run every test and print the summary last. */
int
main(void)
{
	Samples    *all = calloc(1, sizeof(Samples));
	int			i;

	verbose = getenv("ZC_TEST_VERBOSE") != NULL;
	sb_sample_streams(keep_sample, all);

	test_helpers();
	test_format_example();
	test_every_type();
	test_typed_values();
	test_sentinel_and_units();
	test_null_encodings();
	test_dictionary_flow();
	test_code_ranges();
	test_batches();
	test_names();
	test_descriptor_rejections();
	test_header_rejections();
	test_message_rejections();
	test_stream_ends();
	test_need_more_hints();
	test_samples_and_chunking(all);
	test_truncation(all);
	test_bit_flips(all);
	test_large_batch();
	test_bitbool();
	test_offsets32_and_based();
	test_arrow_fixed();
	test_unsigned_codes();

	/* every view handed out by every run above was inside its unit */
	CHECKF(view_errors == 0, "%ld bad views", view_errors);
	/* and every error message was presentable */
	CHECKF(bad_messages == 0, "%ld bad error messages", bad_messages);

	for (i = 0; i < all->n; i++)
		free(all->s[i].data);
	free(all);

	if (n_failed > 0)
	{
		printf("test_stream: %d of %d checks FAILED\n", n_failed, n_checks);
		return 1;
	}
	printf("test_stream: %d checks passed\n", n_checks);
	return 0;
}
