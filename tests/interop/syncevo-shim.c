/*
 * syncevo-shim.c - LD_PRELOAD work-around for the SyncEvolution 2.0.0 client
 * as packaged in Debian bookworm (package `syncevolution`, 2.0.0-3+b1).
 *
 * Problem: that build's HTTP transport (SyncEvo::CurlTransportAgent) hands
 * garbage instead of its static read/write callbacks to libcurl, i.e. the
 * values passed with CURLOPT_WRITEFUNCTION (20011) and CURLOPT_READFUNCTION
 * (20012) are not usable. libcurl then either jumps to garbage or falls back
 * to fwrite()/fread() on the C++ object given as CURLOPT_WRITEDATA /
 * CURLOPT_READDATA, and the client dies with SIGSEGV on its first POST.
 *
 * Fix: this library wraps curl_easy_setopt(). When one of those two options
 * is set by code living in libsyncevolution.so, the callback is replaced by
 * one of ours which forwards (buf, size * nmemb) to the member function that
 * libsyncevolution.so exports for the job, using the userdata pointer (which
 * SyncEvolution sets to the CurlTransportAgent object) as `this`:
 *   size_t SyncEvo::CurlTransportAgent::writeData(void *, size_t)
 *          = _ZN7SyncEvo18CurlTransportAgent9writeDataEPvm
 *   size_t SyncEvo::CurlTransportAgent::readData(void *, size_t)
 *          = _ZN7SyncEvo18CurlTransportAgent8readDataEPvm
 * (Itanium C++ ABI: a non-virtual member function is an ordinary function
 * whose first argument is `this`.) Every other call is passed through to the
 * real curl_easy_setopt() unchanged. Nothing from libcurl's headers is needed.
 *
 * Build (no flags beyond these are needed; _GNU_SOURCE is defined below for
 * RTLD_NEXT/dladdr; -ldl is harmless on glibc >= 2.34 where libdl is empty):
 *   cc -shared -fPIC -O2 -o <out>/syncevo-shim.so tests/interop/syncevo-shim.c -ldl
 * Use:
 *   LD_PRELOAD=<out>/syncevo-shim.so syncevolution --daemon=no --run ...
 * Diagnostics: set SYNCEVO_SHIM_DEBUG=1 to log every substitution to stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libcurl ABI facts (stable since libcurl 7.x) */
typedef int shim_curlcode;          /* CURLcode is a C enum */
typedef void shim_curl;             /* CURL is opaque */
#define SHIM_OPT_WRITEFUNCTION 20011
#define SHIM_OPT_READFUNCTION  20012
#define SHIM_OPTTYPE_OBJECTPOINT   10000
#define SHIM_OPTTYPE_FUNCTIONPOINT 20000
#define SHIM_OPTTYPE_OFF_T         30000
#define SHIM_OPTTYPE_BLOB          40000

#define SHIM_LIBNAME "libsyncevolution.so"
#define SHIM_SYM_WRITE "_ZN7SyncEvo18CurlTransportAgent9writeDataEPvm"
#define SHIM_SYM_READ  "_ZN7SyncEvo18CurlTransportAgent8readDataEPvm"

typedef shim_curlcode (*shim_setopt_fn)(shim_curl *, int, ...);
typedef size_t (*shim_member_fn)(void *self, void *buf, size_t len);
typedef void (*shim_any_fn)(void);

/* Resolved lazily; racing initialisations store identical values. */
static shim_setopt_fn real_setopt;
static shim_member_fn member_write;
static shim_member_fn member_read;

static int shim_debug(void)
{
    const char *v = getenv("SYNCEVO_SHIM_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

static size_t shim_write_cb(char *buf, size_t size, size_t nmemb, void *userdata)
{
    return member_write(userdata, buf, size * nmemb);
}

static size_t shim_read_cb(char *buf, size_t size, size_t nmemb, void *userdata)
{
    return member_read(userdata, buf, size * nmemb);
}

/* Is `addr` inside libsyncevolution.so? If so, return a handle to it. */
static void *shim_caller_module(const void *addr)
{
    Dl_info info;
    const char *base;

    if (!addr || !dladdr(addr, &info) || !info.dli_fname)
        return NULL;
    base = strrchr(info.dli_fname, '/');
    base = base ? base + 1 : info.dli_fname;
    if (strncmp(base, SHIM_LIBNAME, strlen(SHIM_LIBNAME)) != 0)
        return NULL;
    /* already loaded: RTLD_NOLOAD just returns a reference to it */
    return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
}

static shim_member_fn shim_lookup(void *module, const char *sym)
{
    void *p = module ? dlsym(module, sym) : NULL;
    if (!p)
        p = dlsym(RTLD_DEFAULT, sym);
    return (shim_member_fn)p;
}

shim_curlcode curl_easy_setopt(shim_curl *handle, int option, ...)
{
    const void *caller = __builtin_return_address(0);
    va_list ap;

    if (!real_setopt) {
        real_setopt = (shim_setopt_fn)dlsym(RTLD_NEXT, "curl_easy_setopt");
        if (!real_setopt) {
            fprintf(stderr, "syncevo-shim: cannot find the real curl_easy_setopt: %s\n", dlerror());
            abort();
        }
    }

    va_start(ap, option);

    if (option < SHIM_OPTTYPE_OBJECTPOINT) {
        long v = va_arg(ap, long);
        va_end(ap);
        return real_setopt(handle, option, v);
    }
    if (option >= SHIM_OPTTYPE_OFF_T && option < SHIM_OPTTYPE_BLOB) {
        int64_t v = va_arg(ap, int64_t);
        va_end(ap);
        return real_setopt(handle, option, v);
    }
    if (option >= SHIM_OPTTYPE_FUNCTIONPOINT && option < SHIM_OPTTYPE_OFF_T) {
        shim_any_fn fn = va_arg(ap, shim_any_fn);
        va_end(ap);
        if (option == SHIM_OPT_WRITEFUNCTION || option == SHIM_OPT_READFUNCTION) {
            void *module = shim_caller_module(caller);
            if (module) {
                int is_write = option == SHIM_OPT_WRITEFUNCTION;
                shim_member_fn m = is_write ? member_write : member_read;
                if (!m) {
                    m = shim_lookup(module, is_write ? SHIM_SYM_WRITE : SHIM_SYM_READ);
                    if (is_write)
                        member_write = m;
                    else
                        member_read = m;
                }
                dlclose(module); /* drop the RTLD_NOLOAD reference */
                if (m) {
                    shim_any_fn replacement = is_write ? (shim_any_fn)shim_write_cb
                                                       : (shim_any_fn)shim_read_cb;
                    if (shim_debug())
                        fprintf(stderr, "syncevo-shim: option %d: %p replaced by %p\n",
                                option, (void *)fn, (void *)replacement);
                    fn = replacement;
                } else {
                    fprintf(stderr, "syncevo-shim: %s not found, option %d passed through\n",
                            is_write ? SHIM_SYM_WRITE : SHIM_SYM_READ, option);
                }
            }
        }
        return real_setopt(handle, option, fn);
    }
    /* object pointers and blobs */
    {
        void *v = va_arg(ap, void *);
        va_end(ap);
        return real_setopt(handle, option, v);
    }
}
