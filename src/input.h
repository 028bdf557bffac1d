/*-------------------------------------------------------------------------
 *
 * input.h
 *	  Where a load's stream bytes come from.
 *
 * A ZcInput holds stream bytes [start, end) of an 8-byte aligned buffer.
 * Its read() appends at least one more byte at end, possibly after moving
 * the unconsumed bytes to the front (zc_input_reserve), or returns false at
 * the end of the input.  start always sits at a unit boundary of the stream
 * (units are multiples of 8 bytes long), so every unit stays 8-byte aligned
 * and the decoder's views can be read in place.
 *
 * Sources: the client's CopyData messages (copyin.c), bytes in memory (a
 * bytea), and a file on the server.
 *
 * src/input.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_INPUT_H
#define ZCIMPORT_INPUT_H

#include <stdio.h>

#include "compat.h"
#include "stream.h"

typedef struct ZcInput ZcInput;

struct ZcInput
{
	char	   *buf;
	size_t		cap;
	size_t		start;
	size_t		end;
	uint64		bytes_read;		/* stream bytes received so far */
	bool		(*read) (ZcInput *input);

	/* for the memory and file sources */
	const char *src;
	size_t		src_len;
	FILE	   *file;
	const char *path;			/* the file's name, for messages */
};

/* Make room for at least extra bytes after input->end. */
extern void zc_input_reserve(ZcInput *input, size_t extra);

/* An input over len bytes at data, which must stay valid while it is read. */
extern void zc_input_init_memory(ZcInput *input, const char *data, size_t len);

/* An input reading an open file (AllocateFile) named path to its end. */
extern void zc_input_init_file(ZcInput *input, FILE *file, const char *path);

/*
 * What zc_input_drive() does with each unit of a stream.  msg and len are
 * the unit's bytes in the input's buffer, valid during the call; the
 * decoder describes the unit.  A NULL callback skips that kind of unit.
 */
typedef struct ZcStreamHandler
{
	void		(*header) (void *arg, const uint8 *msg, size_t len);
	void		(*dictionary) (void *arg, const uint8 *msg, size_t len);
	void		(*batch) (void *arg, const uint8 *msg, size_t len);
	void	   *arg;
	bool		report_progress;	/* bytes into pg_stat_progress_copy */
} ZcStreamHandler;

/*
 * Decode the whole stream from input with dec, handing each unit to
 * handler, up to the end marker; then the input must end too (for COPY,
 * this reads the client's CopyDone).  A malformed or truncated stream is
 * reported as an error (22P04).
 */
extern void zc_input_drive(ZcInput *input, ZcDecoder *dec,
						   const ZcStreamHandler *handler);

/* Report a decoder error, with its message as the detail, as it is. */
pg_noreturn extern void zc_report_stream_error(const ZcError *err);

#endif							/* ZCIMPORT_INPUT_H */
