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
};

/* Make room for at least extra bytes after input->end. */
extern void zc_input_reserve(ZcInput *input, size_t extra);

/* An input over len bytes at data, which must stay valid while it is read. */
extern void zc_input_init_memory(ZcInput *input, const char *data, size_t len);

/* An input reading an open file (AllocateFile) to its end. */
extern void zc_input_init_file(ZcInput *input, FILE *file);

/*
 * Decode the next unit of the stream, reading input as the decoder needs.
 * Returns the event; *used is the unit's length, which the caller consumes
 * (input->start += *used) once it has handled the event.  A malformed or
 * truncated stream is reported as an error (22P04).
 */
extern ZcEvent zc_input_next_event(ZcInput *input, ZcDecoder *dec,
								   size_t *used);

/* After the end marker: the input must end too (reads a COPY's CopyDone). */
extern void zc_input_finish(ZcInput *input, ZcDecoder *dec);

/* Report a decoder error; its message becomes the detail sentence. */
extern void zc_report_stream_error(const ZcError *err) pg_attribute_noreturn();

#endif							/* ZCIMPORT_INPUT_H */
