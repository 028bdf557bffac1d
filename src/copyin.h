/*-------------------------------------------------------------------------
 *
 * copyin.h
 *	  The COPY FROM STDIN side of the frontend/backend protocol.
 *
 * zc_copyin_begin() tells the client to start sending (CopyInResponse),
 * and an input made by zc_input_init_copyin() reads the stream out of the
 * client's CopyData messages until CopyDone.
 *
 * src/copyin.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_COPYIN_H
#define ZCIMPORT_COPYIN_H

#include "input.h"

/* Send CopyInResponse (binary, natts columns) and flush. */
extern void zc_copyin_begin(int natts);

/* An input that reads CopyData messages from the client. */
extern void zc_input_init_copyin(ZcInput *input);

#endif							/* ZCIMPORT_COPYIN_H */
