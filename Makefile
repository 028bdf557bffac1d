# zcimport: zero-copy bulk loading of pandas DataFrames into PostgreSQL.
#
#   make            build the extension and the Python package in place
#   make install    install the extension into the PostgreSQL found by PG_CONFIG
#   make test       everything, against a private throwaway cluster
#   make demo       load the 10M-row seed frame on that cluster and report
#
# The extension is built with PGXS.

EXTENSION = zcimport
# The version is written once, in python/zcimport/VERSION (inside python/, so
# that pip install ./python, or of a copy of python/ alone, finds it; the
# Python package reads it there).  The library reports it (zcimport.version(),
# -DZCIMPORT_VERSION); the extension's SQL version, the install script's name
# and the control file's default_version, is its major.minor: a patch release
# changes no SQL object.
VERSION_FILE = python/zcimport/VERSION
ZCIMPORT_VERSION := $(strip $(file <$(VERSION_FILE)))
EXTVERSION := $(word 1,$(subst ., ,$(ZCIMPORT_VERSION))).$(word 2,$(subst ., ,$(ZCIMPORT_VERSION)))
MODULE_big = pg_zcimport
# The install script is built from sql/zcimport.sql for this version; the
# upgrade scripts (sql/zcimport--<from>--<to>.sql) install as they are.
DATA_built = zcimport--$(EXTVERSION).sql
DATA = $(wildcard sql/$(EXTENSION)--*--*.sql)
OBJS = \
	src/zcimport.o \
	src/hook.o \
	src/copyin.o \
	src/input.o \
	src/target.o \
	src/functions.o \
	src/stream.o \
	src/convert.o \
	src/indexes.o \
	src/insert.o \
	src/load.o \
	src/citus.o \
	src/substream.o

# libpq-fe.h, for the types of the libpq calls that citus.c makes through
# citus.so (the library itself is not linked with libpq)
PG_CPPFLAGS = -I$(srcdir)/src -I$(includedir) -DZCIMPORT_VERSION='"$(ZCIMPORT_VERSION)"'
EXTRA_CLEAN = $(EXTENSION).control

# -Wextra's unused-parameter, sign-compare and missing-field-initializers
# warnings fire inside PostgreSQL's own headers and macros.  Warnings are
# errors only where ZC_WERROR=1 asks for it (make test, so CI, does): a
# compiler newer than ours must not break a user's build.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
ifeq ($(ZC_WERROR),1)
PG_CFLAGS += -Werror
endif

REGRESS = setup version copy_basic copy_types copy_text copy_errors functions trust arrow_types indexes teardown

# The Python environment: .venv/$(PYENV), a virtual environment that
# test/venv.sh creates with pip from python/requirements/$(PYENV).txt.
# make test runs the pytest suite in each of ZC_PY_ENVS (test/run.sh).
# Not PYTHON: PGXS's Makefile.global sets that to the interpreter PostgreSQL
# was configured with (or to nothing).
PYENV ?= latest
VENV_PYTHON ?= $(CURDIR)/.venv/$(PYENV)/bin/python
PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
# On a fresh machine pg_config comes with the packages that make deps
# (and so make test and make demo) installs.
all install installcheck:
	@echo "pg_config not found: run 'make deps' first, or 'make test' / 'make demo', which run it" >&2; exit 1
endif

# PGXS does not track headers: rebuild every object when any src/*.h changes
# (after PGXS, so that its "all" stays the default goal)
# (a stale object with an old struct layout is a crashing backend).
$(OBJS): $(wildcard src/*.h)

zcimport--$(EXTVERSION).sql: sql/zcimport.sql
	cp $< $@

# The control file, with the default_version of VERSION_FILE; PGXS installs
# it with "make install", which builds "all" first.
all: $(EXTENSION).control
$(EXTENSION).control: $(EXTENSION).control.in $(VERSION_FILE)
	sed 's/@EXTVERSION@/$(EXTVERSION)/' $< > $@

# the library reports the version it was built with (zcimport.version(), and
# PG_MODULE_MAGIC_EXT's)
src/functions.o src/zcimport.o: $(VERSION_FILE)

.PHONY: venv python-ext check-c check-valgrind fuzz fuzz-coverage test demo deps

# The virtual environment (idempotent: rebuilt only when its requirements
# file changed).
venv:
	@bash test/venv.sh $(PYENV) >/dev/null

# The Python package's C modules (_wire and _pack), built in place so that
# PYTHONPATH=python imports them.  They use only the C API of CPython, so the
# one build serves every environment of the same interpreter.  Warnings are
# errors only with ZC_WERROR=1, as for the extension (python/setup.py reads
# ZCIMPORT_WERROR).
python-ext: venv
	cd python && ZCIMPORT_WERROR=$(ZC_WERROR) $(VENV_PYTHON) setup.py -q build_ext --inplace

# C unit tests of the stream decoder and the sub-stream encoder, under
# AddressSanitizer and UBSan.
TEST_CFLAGS = -std=c11 -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all -Isrc
test/c/test_stream: test/c/test_stream.c test/c/check.h test/c/streambuild.c test/c/streambuild.h src/stream.c src/stream.h
	$(CC) $(TEST_CFLAGS) -o $@ test/c/test_stream.c test/c/streambuild.c src/stream.c

test/c/test_substream: test/c/test_substream.c test/c/check.h test/c/streambuild.c test/c/streambuild.h \
		src/stream.c src/stream.h src/substream.c src/substream.h
	$(CC) $(TEST_CFLAGS) -o $@ test/c/test_substream.c test/c/streambuild.c src/stream.c src/substream.c

check-c: test/c/test_stream test/c/test_substream
	./test/c/test_stream
	./test/c/test_substream

# libFuzzer harness for the decoder; FUZZ_SECONDS bounds the run.  Only
# src/stream.c gets coverage instrumentation (test/fuzz/instrument.txt), and
# without trace-cmp: its hooks in the decoder's per-byte loops took a third
# of the time, and 60-second runs with and without it reached the same line
# coverage.  make fuzz-coverage measures that coverage (not in make test).
FUZZ_SECONDS ?= 30
# PGXS's CLANG (the one PostgreSQL's bitcode is built with) if it has one
FUZZ_CC ?= $(if $(CLANG),$(CLANG),clang)
FUZZ_CFLAGS = -std=c11 -g -O1 -Isrc -Itest/c -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -fno-sanitize-coverage=trace-cmp \
	-fsanitize-coverage-allowlist=test/fuzz/instrument.txt
test/fuzz/fuzz_stream: test/fuzz/fuzz_stream.c test/fuzz/instrument.txt test/c/streambuild.c \
		test/c/streambuild.h src/stream.c src/stream.h src/substream.c src/substream.h Makefile
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_stream.c test/c/streambuild.c src/stream.c \
		src/substream.c

fuzz: test/fuzz/fuzz_stream
	./test/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-coverage: test/fuzz/fuzz_stream
	./test/fuzz/coverage.sh $(FUZZ_SECONDS)

# The regression suite and the randomized slices against a server running
# under valgrind (not part of make test: it takes a while).
check-valgrind: install
	bash test/valgrind.sh

deps:
	bash test/deps.sh

test: deps
	bash test/run.sh

demo: deps
	bash test/demo.sh
