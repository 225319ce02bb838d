// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Fuzz seed (built by `make fuzz` with -g): top-level structs to look up. */
struct G {
	long stack[2];
	void *m;
	long goid;
};

struct S {
	int a;
	char b;
};

struct G g_seed;
struct S s_seed;

int main(void)
{
	return (int)g_seed.goid + s_seed.a;
}
