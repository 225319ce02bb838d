// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Writes synthetic Go binaries (tests/unit/synth_go.h: Go 1.16, 1.18, 1.20+
 * tables, pointer and inline build info, amd64 and arm64) as fuzz seeds.
 *   mkseeds DIR
 */
#include <stdio.h>
#include <stdlib.h>

#include "synth_go.h"

static const struct {
	const char *name;
	struct synth sy;
} seeds[] = {
	{ "go116", { 0xfffffffa, false, "go1.16.15", EM_X86_64, code_amd64 } },
	{ "go118", { 0xfffffff0, true, "go1.18.10", EM_X86_64, code_amd64 } },
	{ "go123-reloc", { 0xfffffff1, true, "go1.23.4 X:nocoverageredesign", EM_X86_64,
			   code_amd64, .zero_text_start = true } },
	{ "go125-arm64", { 0xfffffff1, true, "go1.25.3", EM_AARCH64, code_arm64 } },
	{ "go121-nobuildinfo", { 0xfffffff1, true, "go1.21.0", EM_X86_64, code_amd64,
				 .no_buildinfo = true } },
};

int main(int argc, char **argv)
{
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		uint8_t img[SY_SIZE] = { 0 };
		FILE *f;

		synth_image(img, &seeds[i].sy);
		snprintf(path, sizeof(path), "%s/%s", argv[1], seeds[i].name);
		f = fopen(path, "wb");
		if (!f || fwrite(img, 1, sizeof(img), f) != sizeof(img) || fclose(f)) {
			perror(path);
			return 1;
		}
	}
	return 0;
}
