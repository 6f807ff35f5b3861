/* The kernel's BTF, parsed with one copy instead of two.
 *
 * libbpf parses /sys/kernel/btf/vmlinux (5.5 MB on 6.18) whenever it loads an object with CO-RE relocations
 * or tp_btf programs, and ktrace's own queries (loader.c) parse it too. Before 1.6, libbpf reads the file
 * into one buffer and copies it into another before freeing the first: for a moment both are resident, and
 * that moment is ktrace's peak RSS (+11.5 MB, measured with getrusage around the call). Since 6.16 the
 * kernel lets the file be mapped read-only; the mapping is the kernel's own pages (remap_pfn_range), which
 * do not count toward the process's RSS, so parsing from it costs one copy (+6.3 MB).
 *
 * libbpf calls btf__load_vmlinux_btf through its PLT, so this definition in the executable takes the
 * place of libbpf's own for libbpf too (the usual ELF interposition, as malloc replacements work). Where
 * the kernel refuses the mapping (before 6.16), or libbpf 1.6+ maps the file itself, libbpf's own runs.
 * `-v` says which was used, for libbpf's own call while it loads (kt_vmlinux_btf_source, counted by
 * kt_vmlinux_btf_calls: ktrace's direct calls reach this definition whatever libbpf does), and a test
 * checks that line against whether the file maps. */
#define _GNU_SOURCE
#include "loader_internal.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char source[160];
static int calls;

const char *kt_vmlinux_btf_source(void) { return source; }
int kt_vmlinux_btf_calls(void) { return calls; }

static struct btf *libbpf_own(void)
{
	struct btf *(*own)(void) = (struct btf * (*)(void)) dlsym(RTLD_NEXT, "btf__load_vmlinux_btf");
	if (!own) {
		errno = ENOSYS;
		return NULL;
	}
	return own();
}

struct btf *btf__load_vmlinux_btf(void)
{
	const char *path = "/sys/kernel/btf/vmlinux";
	calls++;
	if (libbpf_major_version() > 1 || libbpf_minor_version() >= 6) {
		snprintf(source, sizeof(source), "read by libbpf %s (it maps the file itself where the kernel allows)",
			 libbpf_version_string());
		return libbpf_own();
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC), why = fd < 0 ? errno : 0;
	struct stat st;
	void *data = MAP_FAILED;
	if (fd >= 0) {
		if (fstat(fd, &st) != 0)
			why = errno;
		else if ((data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
			why = errno;
		close(fd);
	}
	if (data == MAP_FAILED) {
		snprintf(source, sizeof(source),
			 "read by libbpf %s, two copies while it parses (mapping %s: %s; kernels map it from 6.16)",
			 libbpf_version_string(), path, strerror(why));
		return libbpf_own();
	}
	struct btf *btf = btf__new(data, (__u32)st.st_size);
	why = errno;
	munmap(data, (size_t)st.st_size);
	if (!btf) {
		snprintf(source, sizeof(source), "read by libbpf %s (parsing the mapping of %s failed: %s)",
			 libbpf_version_string(), path, strerror(why));
		return libbpf_own();
	}
	snprintf(source, sizeof(source), "mapped from %s and copied once", path);
	return btf;
}
