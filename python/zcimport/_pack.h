/*
 * _pack.h
 *	  Packing of object columns into stream buffers (part of zcimport._wire).
 *
 * python/zcimport/_pack.h
 */
#ifndef ZCIMPORT_PACK_H
#define ZCIMPORT_PACK_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The packing functions, for the module's method table. */
#define ZP_METHODS \
	{"scan_objects", (PyCFunction) (void (*) (void)) zp_scan_objects, \
	 METH_VARARGS | METH_KEYWORDS, zp_scan_objects_doc}, \
	{"pack_utf8", (PyCFunction) (void (*) (void)) zp_pack_utf8, \
	 METH_VARARGS | METH_KEYWORDS, zp_pack_utf8_doc}, \
	{"pack_binary", (PyCFunction) (void (*) (void)) zp_pack_binary, \
	 METH_VARARGS | METH_KEYWORDS, zp_pack_binary_doc}, \
	{"pack_date32", (PyCFunction) (void (*) (void)) zp_pack_date32, \
	 METH_VARARGS | METH_KEYWORDS, zp_pack_date32_doc}

extern const char zp_scan_objects_doc[];
extern const char zp_pack_utf8_doc[];
extern const char zp_pack_binary_doc[];
extern const char zp_pack_date32_doc[];

PyObject   *zp_scan_objects(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject   *zp_pack_utf8(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject   *zp_pack_binary(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject   *zp_pack_date32(PyObject *self, PyObject *args, PyObject *kwargs);

/* Called once by the module's init function; -1 with an exception set. */
int			zp_init(PyObject *module);

#endif							/* ZCIMPORT_PACK_H */
