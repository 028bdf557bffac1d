/*-------------------------------------------------------------------------
 *
 * fuzz_stream.c
 *	  libFuzzer harness for the zcimport stream decoder (src/stream.c).
 *
 * The first input byte chooses how the rest is split into chunks; the rest
 * is the stream.  The harness feeds it the way the server does: an 8-byte
 * aligned, growable buffer; append a chunk, call zc_decoder_next() until it
 * needs more, consume what it used; zc_decoder_finish() at the end.  The
 * bytes past those handed to the decoder are poisoned, so ASan catches any
 * read past len, and every view of every decoded unit is read in full and
 * checked against the rules the decoder promises to enforce.
 *
 * Each input is decoded twice, whole and in chunks, and the two runs must
 * produce the same events and the same error message.
 *
 * With ZC_FUZZ_WRITE_SEEDS=dir in the environment, the harness writes the
 * seed corpus (valid sample streams from streambuild.c, under several
 * chunkings) into dir and exits.
 *
 * test/fuzz/fuzz_stream.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "stream.h"
#include "streambuild.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int			LLVMFuzzerInitialize(int *argc, char ***argv);

/* Fail loudly: libFuzzer reports the crash and saves the input. */
#define REQUIRE(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "fuzz_stream: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/* A bump arena for the decoder's allocations, reset per run. */
typedef struct Arena
{
	void	   *blocks[8];
	int			n;
} Arena;

/* ZcAllocFn of the harness. */
static void *
arena_alloc(void *arg, size_t size)
{
	Arena	   *a = arg;
	void	   *p;

	REQUIRE(a->n < 8);
	p = malloc(size ? size : 1);
	REQUIRE(p != NULL);
	a->blocks[a->n++] = p;
	return p;
}

/* Free the arena's blocks. */
static void
arena_free(Arena *a)
{
	while (a->n > 0)
		free(a->blocks[--a->n]);
}

/* What a run saw: a hash of its events, and how it ended. */
typedef struct Outcome
{
	uint64_t	hash;
	int			events;
	ZcStatus	status;
	char		message[ZC_ERROR_LEN];
} Outcome;

static volatile uint64_t sink;

/* FNV-1a step. */
static uint64_t
mix(uint64_t h, uint64_t v)
{
	int			i;

	for (i = 0; i < 8; i++)
	{
		h ^= (v >> (8 * i)) & 0xff;
		h *= 1099511628211u;
	}
	return h;
}

/* Sum the bytes of a range (reads every byte, for ASan). */
static uint64_t
touch(const uint8_t *p, uint64_t n)
{
	uint64_t	s = 0;
	uint64_t	i;

	for (i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

/* Is [p, p + n) within [base, base + len)? */
static int
within(const void *p, uint64_t n, const uint8_t *base, size_t len)
{
	const uint8_t *q = p;

	return q != NULL && q >= base && q <= base + len &&
		n <= (uint64_t) (base + len - q);
}

/* Check and read the offsets + data of count strings. */
static uint64_t
touch_strings(const int64_t *offsets, const uint8_t *data, uint64_t data_len,
			  uint64_t count, const uint8_t *base, size_t len)
{
	uint64_t	h = 0;
	uint64_t	i;

	REQUIRE(((uintptr_t) offsets & 7) == 0);
	REQUIRE(within(offsets, (count + 1) * 8, base, len));
	REQUIRE(data_len == 0 || within(data, data_len, base, len));
	REQUIRE(offsets[0] >= 0 && offsets[count] <= (int64_t) data_len);
	for (i = 0; i < count; i++)
	{
		REQUIRE(offsets[i] <= offsets[i + 1]);
		h = mix(h, touch(data + offsets[i],
						 (uint64_t) (offsets[i + 1] - offsets[i])));
	}
	return h;
}

/* Read every value, validity bit, offset and string of a batch. */
static uint64_t
touch_batch(const ZcDecoder *dec, const uint8_t *buf, size_t used)
{
	uint64_t	n = dec->batch_rows;
	uint64_t	h = mix(0, n);
	uint32_t	c;

	REQUIRE(n <= ZC_MAX_COUNT);
	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *d = &dec->columns[c];
		const ZcColumnView *v = &dec->views[c];
		uint64_t	i;

		if (d->nulls != ZC_NULLS_NONE)
		{
			uint64_t	vlen = d->nulls == ZC_NULLS_BITMAP ? (n + 7) / 8 : n;

			REQUIRE(vlen == 0 || within(v->validity, vlen, buf, used));
			h = mix(h, (uint64_t) (v->validity - buf));
			for (i = 0; i < n; i++)
				h = mix(h, zc_row_valid(d, v, i));
		}
		else
			REQUIRE(v->validity == NULL);

		if (d->type == ZC_T_UTF8 || d->type == ZC_T_BINARY)
		{
			h = mix(h, (uint64_t) ((const uint8_t *) v->offsets - buf));
			h = mix(h, touch_strings(v->offsets, v->data, v->data_len, n,
									 buf, used));
		}
		else if (d->type == ZC_T_DICTIONARY)
		{
			int			w = zc_wire_type_width(d->index_type);

			REQUIRE(w == 1 || w == 2 || w == 4 || w == 8);
			REQUIRE(n == 0 || within(v->values, n * w, buf, used));
			REQUIRE(((uintptr_t) v->values & 7) == 0);
			for (i = 0; i < n; i++)
			{
				int64_t		code = w == 1 ? ((const int8_t *) v->values)[i] :
					w == 2 ? ((const int16_t *) v->values)[i] :
					w == 4 ? ((const int32_t *) v->values)[i] :
					((const int64_t *) v->values)[i];

				h = mix(h, (uint64_t) code);
				if (zc_row_valid(d, v, i) && code != -1)
					REQUIRE(code >= 0 && code < dec->dict_sizes[c]);
			}
		}
		else if (d->type == ZC_T_NULL)
		{
			/* an empty values buffer: nothing to read, every row is NULL */
			REQUIRE(zc_wire_type_width(d->type) == 0);
			h = mix(h, n);
		}
		else
		{
			int			w = zc_wire_type_width(d->type);

			REQUIRE(w > 0);
			REQUIRE(n == 0 || within(v->values, n * w, buf, used));
			REQUIRE(((uintptr_t) v->values & 7) == 0);
			h = mix(h, (uint64_t) (v->values - buf));
			h = mix(h, touch(v->values, n * w));
		}
	}
	return h;
}

/* Read every entry of a dictionary message. */
static uint64_t
touch_dict(const ZcDecoder *dec, const uint8_t *buf, size_t used)
{
	const ZcDictionaryView *dv = &dec->dict;

	REQUIRE(dv->column < dec->ncolumns);
	REQUIRE(dec->columns[dv->column].type == ZC_T_DICTIONARY);
	REQUIRE(dv->count <= ZC_MAX_COUNT);
	REQUIRE(dec->dict_sizes[dv->column] == (int64_t) dv->count);
	return mix(dv->column,
			   touch_strings(dv->offsets, dv->data, dv->data_len, dv->count,
							 buf, used));
}

/* Read the column descriptors. */
static uint64_t
touch_header(const ZcDecoder *dec)
{
	uint64_t	h = mix(0, dec->ncolumns);
	uint32_t	c;

	REQUIRE(dec->ncolumns >= 1 && dec->ncolumns <= ZC_MAX_COLUMNS);
	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *d = &dec->columns[c];

		REQUIRE(zc_wire_type_name(d->type) != NULL);
		REQUIRE(zc_null_encoding_name(d->nulls) != NULL);
		REQUIRE(strlen(d->name) == d->name_len);
		REQUIRE(strlen(d->tz) == d->tz_len);
		REQUIRE(dec->dict_sizes[c] == -1);
		h = mix(h, d->type | d->nulls << 8 | d->flags << 16 | d->unit << 24);
		h = mix(h, touch((const uint8_t *) d->name, d->name_len));
	}
	return h;
}

/* Chunk size number i for a mode byte; 0 means "all at once". */
static size_t
chunk_size(uint8_t mode, uint64_t *rng)
{
	static const size_t maxima[8] = {0, 1, 3, 8, 17, 64, 700, 5000};
	size_t		max = maxima[mode & 7];

	if (max <= 1)
		return max;
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return 1 + (size_t) (*rng % max);
}

/*
 * Decode stream[0 .. len) as the server does, in chunks chosen by mode
 * (mode 0: all at once).
 */
static void
decode(const uint8_t *stream, size_t len, uint8_t mode, Outcome *out)
{
	ZcDecoder	dec;
	Arena		arena = {{0}, 0};
	ZcError		err;
	size_t		cap = len + 8;
	uint8_t    *buf = aligned_alloc(8, (cap + 7) & ~(size_t) 7);
	size_t		have = 0;		/* bytes in buf */
	size_t		fed = 0;		/* bytes of stream appended so far */
	uint64_t	rng = (uint64_t) mode * 0x9E3779B97F4A7C15u + 0x1234567;
	size_t		hint = 0;

	REQUIRE(buf != NULL);
	cap = (cap + 7) & ~(size_t) 7;
	memset(out, 0, sizeof(*out));
	out->hash = 14695981039346656037u;
	zc_decoder_init(&dec, arena_alloc, &arena, mode & 0x80 ? 4096 : 0);

	for (;;)
	{
		size_t		n = chunk_size(mode, &rng);

		if (n == 0 || n > len - fed)
			n = len - fed;
		memcpy(buf + have, stream + fed, n);
		have += n;
		fed += n;

		for (;;)
		{
			size_t		used = 0;
			ZcEvent		event = ZC_EV_NONE;
			uint64_t	before = dec.offset;
			ZcStatus	st;

			ASAN_POISON_MEMORY_REGION(buf + have, cap - have);
			st = zc_decoder_next(&dec, buf, have, &used, &event, &err);
			if (st == ZC_OK)
			{
				REQUIRE(used > 0 && used <= have && used % 8 == 0);
				REQUIRE(used >= hint);
				REQUIRE(dec.offset == before + used);
				out->hash = mix(out->hash, (uint64_t) event);
				out->hash = mix(out->hash, used);
				switch (event)
				{
					case ZC_EV_HEADER:
						out->hash = mix(out->hash, touch_header(&dec));
						break;
					case ZC_EV_BATCH:
						out->hash = mix(out->hash, touch_batch(&dec, buf, used));
						out->hash = mix(out->hash, dec.total_rows);
						break;
					case ZC_EV_DICTIONARY:
						out->hash = mix(out->hash, touch_dict(&dec, buf, used));
						break;
					case ZC_EV_END:
						REQUIRE(dec.state == ZC_STATE_DONE);
						break;
					default:
						REQUIRE(!"unexpected event");
				}
				out->events++;
				ASAN_UNPOISON_MEMORY_REGION(buf + have, cap - have);
				memmove(buf, buf + used, have - used);
				have -= used;
				hint = 0;
				continue;
			}
			ASAN_UNPOISON_MEMORY_REGION(buf + have, cap - have);
			if (st == ZC_NEED_MORE)
			{
				REQUIRE(used > have);
				if (used > hint)
					hint = used;
				break;
			}
			REQUIRE(st == ZC_ERROR);
			REQUIRE(err.message[0] != '\0');
			REQUIRE(dec.state == ZC_STATE_FAILED);
			out->status = ZC_ERROR;
			memcpy(out->message, err.message, sizeof(out->message));
			goto done;
		}
		if (fed == len)
			break;
	}
	out->status = zc_decoder_finish(&dec, have, &err);
	if (out->status != ZC_OK)
	{
		REQUIRE(err.message[0] != '\0');
		memcpy(out->message, err.message, sizeof(out->message));
	}
	else
		REQUIRE(dec.state == ZC_STATE_DONE && have == 0);

done:
	sink += out->hash;
	free(buf);
	arena_free(&arena);
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Outcome		whole,
				pieces;
	uint8_t		mode;

	if (size < 1)
		return 0;
	mode = data[0];
	decode(data + 1, size - 1, (uint8_t) (mode & 0x80), &whole);
	if ((mode & 7) != 0)
	{
		decode(data + 1, size - 1, mode, &pieces);
		if (whole.hash != pieces.hash || whole.events != pieces.events ||
			whole.status != pieces.status ||
			strcmp(whole.message, pieces.message) != 0)
		{
			fprintf(stderr, "fuzz_stream: whole and chunked runs differ:\n"
					"  whole:   %d events, status %d, \"%s\"\n"
					"  chunked: %d events, status %d, \"%s\"\n",
					whole.events, whole.status, whole.message,
					pieces.events, pieces.status, pieces.message);
			abort();
		}
	}
	return 0;
}

/* Write one seed file, under a few chunking modes. */
static void
write_seed(void *arg, const char *name, const uint8_t *data, size_t len)
{
	static const uint8_t modes[] = {0x00, 0x01, 0x03, 0x86, 0x0d};
	const char *dir = arg;
	size_t		m;

	for (m = 0; m < sizeof(modes); m++)
	{
		char		path[4096];
		FILE	   *f;

		snprintf(path, sizeof(path), "%s/%s-%02x.zci", dir, name, modes[m]);
		f = fopen(path, "wb");
		if (f == NULL)
		{
			perror(path);
			exit(1);
		}
		fputc(modes[m], f);
		if (len > 0 && fwrite(data, 1, len, f) != len)
		{
			perror(path);
			exit(1);
		}
		fclose(f);
	}
}

/* With ZC_FUZZ_WRITE_SEEDS=dir, write the seed corpus and exit. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("ZC_FUZZ_WRITE_SEEDS");

	(void) argc;
	(void) argv;
	if (dir != NULL && dir[0] != '\0')
	{
		int			n = sb_sample_streams(write_seed, (void *) dir);

		printf("fuzz_stream: wrote %d seed streams to %s\n", n, dir);
		exit(0);
	}
	return 0;
}
