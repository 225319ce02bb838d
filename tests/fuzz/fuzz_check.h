/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* CHECK(cond): a fuzz target's own invariant; a failure aborts (a finding). */
#ifndef PT_FUZZ_CHECK_H
#define PT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)								\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
				__LINE__, #cond);				\
			abort();						\
		}								\
	} while (0)

#endif
