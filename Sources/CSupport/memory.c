#include "csupport.h"

#include <malloc.h>

void kt_trim_heap(void)
{
	malloc_trim(0);
}
