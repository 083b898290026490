/*
 * c-hello: a Spacedrive extension in C, written from docs/extension-abi.md and the conformance
 * contract (conformance/README.md) alone — no SDK, no libc. It passes
 * `spacedrive extension conformance hello.wasm`.
 *
 *   clang --target=wasm32 -mbulk-memory -nostdlib -O2 \
 *     -Wl,--no-entry -Wl,--export-dynamic -o hello.wasm hello.c
 *
 * Registers: query echo, query fail, action call, action log, resumable job steps.
 */
typedef unsigned int u32;
typedef unsigned long long u64;
typedef int i32;

#define IMPORT(name) __attribute__((import_module("spacedrive"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

IMPORT("sd_call") u64 sd_call(const char *method, u32 method_len, const char *payload, u32 payload_len);
IMPORT("sd_log") void sd_log(i32 level, const char *text, u32 len);
IMPORT("sd_error") void sd_error(const char *json, u32 len);
IMPORT("sd_job_progress") i32 sd_job_progress(const char *json, u32 len);

/* ---- memory: a bump allocator that gives back the most recent allocation on sd_free ---- */

extern unsigned char __heap_base;
static u32 heap_top = 0;

EXPORT("sd_alloc") void *sd_alloc(u32 len) {
  if (heap_top == 0) heap_top = ((u32)&__heap_base + 15) & ~15u;
  u32 p = heap_top, end = p + len;
  u32 have = (u32)__builtin_wasm_memory_size(0) << 16;
  if (end > have) {
    u32 pages = (end - have + 65535) >> 16;
    if (__builtin_wasm_memory_grow(0, pages) == (u32)-1) return 0;
  }
  heap_top = end;
  return (void *)p;
}

EXPORT("sd_free") void sd_free(void *ptr, u32 len) {
  if ((u32)ptr + len == heap_top) heap_top = (u32)ptr;
}

EXPORT("sd_abi_version") i32 sd_abi_version(void) { return 1; }

static u32 str_len(const char *s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}

/* Results are packed as (len << 32) | ptr. */
static u64 pack(const void *ptr, u32 len) { return ((u64)len << 32) | (u32)ptr; }

static void free_packed(u64 r) { sd_free((void *)(u32)r, (u32)(r >> 32)); }

static u64 call(const char *method, const char *payload) {
  return sd_call(method, str_len(method), payload, str_len(payload));
}

/* ---- registration ---- */

EXPORT("plugin_init") i32 plugin_init(void) {
  static const char *ops[] = {
      "{\"name\":\"echo\",\"export_fn\":\"echo\",\"operation_type\":\"query\",\"description\":\"returns its input\"}",
      "{\"name\":\"fail\",\"export_fn\":\"fail\",\"operation_type\":\"query\",\"description\":\"fails with NOT_FOUND\"}",
      "{\"name\":\"call\",\"export_fn\":\"call\",\"operation_type\":\"action\",\"description\":\"calls the host\"}",
      "{\"name\":\"log\",\"export_fn\":\"log\",\"operation_type\":\"action\",\"description\":\"logs its input\"}",
  };
  for (u32 i = 0; i < sizeof ops / sizeof ops[0]; i++) free_packed(call("extension.register_operation", ops[i]));
  free_packed(call("extension.register_job", "{\"name\":\"steps\",\"export_fn\":\"steps\",\"resumable\":true,\"description\":\"counts steps, one checkpoint each\"}"));
  return 0;
}

/* ---- handlers: (input_ptr, input_len) -> packed output ---- */

EXPORT("echo") u64 echo(const char *in, u32 len) {
  char *out = sd_alloc(len);
  if (!out) __builtin_trap();
  __builtin_memcpy(out, in, len);
  return pack(out, len);
}

EXPORT("fail") u64 fail(const char *in, u32 len) {
  const char *err = "{\"code\":\"NOT_FOUND\",\"message\":\"conformance: not found\"}";
  sd_error(err, str_len(err));
  return 0;
}

/* Input ["<method>",<payload>]: the method is up to the next quote, the payload up to the final ']'. */
EXPORT("call") u64 call_host(const char *in, u32 len) {
  const char *method = in + 2;
  u32 m = 0;
  while (method[m] != '"') m++;
  const char *payload = method + m + 2;
  return sd_call(method, m, payload, (u32)(in + len - 1 - payload));
}

EXPORT("log") u64 log_input(const char *in, u32 len) {
  sd_log(2, in, len);
  return 0;
}

/* Index of `key` in in[from..len), or -1. */
static i32 find(const char *in, u32 len, u32 from, const char *key) {
  u32 k = str_len(key);
  for (u32 i = from; i + k <= len; i++) {
    u32 j = 0;
    while (j < k && in[i + j] == key[j]) j++;
    if (j == k) return (i32)i;
  }
  return -1;
}

/* The non-negative integer after `key` at or after `from`; 0 when absent. */
static u32 int_after(const char *in, u32 len, i32 from, const char *key) {
  if (from < 0) return 0;
  i32 at = find(in, len, (u32)from, key);
  if (at < 0) return 0;
  u32 i = (u32)at + str_len(key), v = 0;
  while (i < len && in[i] >= '0' && in[i] <= '9') v = v * 10 + (u32)(in[i++] - '0');
  return v;
}

/* Writes prefix, v and "}}" into out; returns the length. */
static u32 write_json(char *out, const char *prefix, u32 v) {
  u32 n = str_len(prefix);
  __builtin_memcpy(out, prefix, n);
  char digits[10];
  u32 d = 0;
  do {
    digits[d++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (d) out[n++] = digits[--d];
  out[n++] = '}';
  out[n++] = '}';
  return n;
}

/* Job input {"job_id","job_type","params":{"steps":n},"state":null|{"done":d},"attempt"}. */
EXPORT("steps") u64 steps(const char *in, u32 len) {
  u32 total = int_after(in, len, 0, "\"steps\":");
  u32 done = int_after(in, len, find(in, len, 0, "\"state\":"), "\"done\":");
  char *buf = sd_alloc(96);
  if (!buf) __builtin_trap();
  while (done < total) {
    done++;
    u32 n = write_json(buf, "{\"state\":{\"done\":", done);
    if (sd_job_progress(buf, n) != 0) {
      /* pause or cancel asked: hand back the state to resume from */
      n = write_json(buf, "{\"status\":\"interrupted\",\"state\":{\"done\":", done);
      return pack(buf, n);
    }
  }
  u32 n = write_json(buf, "{\"status\":\"completed\",\"output\":{\"done\":", total);
  return pack(buf, n);
}
