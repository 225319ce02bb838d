// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Fuzz seed (built by `make fuzz`): a small shared object with .symtab, .dynsym,
 * a versioned symbol, an IFUNC and data. */
int seed_data = 42;

int seed_func(int x)
{
	return x + seed_data;
}

static int impl(int x)
{
	return x * 2;
}

static int (*resolve(void))(int)
{
	return impl;
}

int seed_ifunc(int x) __attribute__((ifunc("resolve")));
int seed_versioned(int x)
{
	return x - 1;
}
__asm__(".symver seed_versioned, seed_old@V0");
