/* C++ workload with mangled names to demangle: a namespace, a class method and an overload pair.
 * No C++ standard library: it builds with the C toolchain (clang -x c++), without libstdc++'s dev files.
 * usage: cxx SECONDS */
extern "C" long time(long *);
extern "C" double atof(const char *);

volatile unsigned long sink;

namespace work {
struct Spinner {
	__attribute__((noinline)) void spin(int rounds)
	{
		for (int i = 0; i < rounds; i++)
			sink += i;
	}
};

__attribute__((noinline)) void burn(int rounds)
{
	Spinner s;
	s.spin(rounds);
}

__attribute__((noinline)) void burn(double rounds)
{
	Spinner s;
	s.spin((int)rounds);
}
} // namespace work

int main(int argc, char **argv)
{
	long end = time(0) + (argc > 1 ? (long)atof(argv[1]) : 5);
	while (time(0) < end) {
		work::burn(200000);
		work::burn(100000.0);
	}
	return 0;
}
