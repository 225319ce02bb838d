/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every libFuzzer target of the binary inspector shares: the input
 * becomes a memfd (a regular file, as binary__open_fd() requires) opened
 * with limits small enough to keep one execution in milliseconds.
 */
#ifndef PT_FUZZ_COMMON_H
#define PT_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attach/binary.h"

static const struct binary_limits fuzz_limits = {
	.max_file_size = 16 << 20,
	.max_func_bytes = 64 << 10,
	.budget_ns = 200000000,	/* 200 ms: a slower input is a finding (-timeout) */
};

/* The input as an open binary, or NULL when binary__open_fd refuses it. */
static struct binary *fuzz_open(const uint8_t *data, size_t size)
{
	struct binary *b;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	if (binary__open_fd(fd, &fuzz_limits, &b))
		return NULL;
	return b;
}

#endif
