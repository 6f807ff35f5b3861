#include "csupport.h"

#include <malloc.h>

void kt_trim_heap(void)
{
	malloc_trim(0);
}

/* glibc serves a block above its mmap threshold (128 KiB) with a mapping of its own, returned to the
 * kernel when freed. But it raises the threshold to the size of every such block freed, up to 32 MiB:
 * once ktrace's own parse of the kernel's BTF (5.5 MB) is freed, blocks up to that size come from the
 * heap and stay resident after their free. ktrace's large blocks are transient (libbpf's BTF copy while
 * loading; the count keys, stack frames and output at the end): with the threshold raised, libbpf's copy
 * stayed for the whole run (`stacks -v` after attaching: RSS 24.4 MB instead of 18.3). Setting the
 * threshold also turns the raising off. */
void kt_fix_mmap_threshold(void)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}
