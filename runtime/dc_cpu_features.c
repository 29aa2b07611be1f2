/* CPU feature checks by name: __builtin_cpu_supports takes only string
 * literals, so each known name is one line of the table. GCC 12 knows a few
 * names clang 16 does not (f16c, lzcnt, movbe); those are read from CPUID so
 * that both compilers build the same runtime. */
#include "dc_cpu_features.h"

#include <cpuid.h>
#include <string.h>

/* CPUID leaf 1, ECX: MOVBE (bit 22), F16C (bit 29); leaf 0x80000001, ECX:
 * LZCNT/ABM (bit 5). F16C uses the vector state that AVX's OS check covers. */
static int cpuid_bit(unsigned leaf, int bit)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(leaf, &a, &b, &c, &d))
        return 0;
    return (int)((c >> bit) & 1u);
}

static int has_f16c(void) { return __builtin_cpu_supports("avx") && cpuid_bit(1, 29); }
static int has_movbe(void) { return cpuid_bit(1, 22); }
static int has_lzcnt(void) { return cpuid_bit(0x80000001u, 5); }

static const char *const known_list =
    "cmov,mmx,popcnt,sse,sse2,sse3,ssse3,sse4.1,sse4.2,sse4a,avx,avx2,fma,fma4,xop,bmi,bmi2,"
    "aes,pclmul,f16c,lzcnt,movbe,avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512vbmi,"
    "avx512ifma,avx512vbmi2,avx512vnni,avx512bitalg,avx512vpopcntdq,avx512bf16,gfni,vpclmulqdq";

const char *dc_cpu_known_features(void)
{
    return known_list;
}

static int builtin_supports(const char *n)
{
#define F(lit) if (strcmp(n, lit) == 0) return __builtin_cpu_supports(lit) ? 1 : 0
    F("cmov"); F("mmx"); F("popcnt"); F("sse"); F("sse2"); F("sse3"); F("ssse3");
    F("sse4.1"); F("sse4.2"); F("sse4a"); F("avx"); F("avx2"); F("fma"); F("fma4"); F("xop");
    F("bmi"); F("bmi2"); F("aes"); F("pclmul"); F("avx512f"); F("avx512bw"); F("avx512cd");
    F("avx512dq"); F("avx512vl"); F("avx512vbmi"); F("avx512ifma"); F("avx512vbmi2");
    F("avx512vnni"); F("avx512bitalg"); F("avx512vpopcntdq"); F("avx512bf16"); F("gfni");
    F("vpclmulqdq");
#undef F
    if (strcmp(n, "f16c") == 0)
        return has_f16c();
    if (strcmp(n, "movbe") == 0)
        return has_movbe();
    if (strcmp(n, "lzcnt") == 0)
        return has_lzcnt();
    return -1;
}

int dc_cpu_has_feature(const char *name, size_t len)
{
    char n[32];
    if (!name || len == 0 || len >= sizeof n)
        return -1;
    memcpy(n, name, len);
    n[len] = '\0';
    if (strlen(n) != len) /* an embedded NUL is not a name */
        return -1;
    __builtin_cpu_init();
    return builtin_supports(n);
}
