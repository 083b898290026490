//! The raw ABI (docs/extension-abi.md): the host imports, the guest's allocator exports, and
//! packed pointer/length results. `#[extension]` exports `sd_abi_version`, `sd_alloc` and
//! `sd_free` by calling the functions here, so a module built with this SDK exports exactly the
//! ABI's names.

use std::alloc::{alloc, dealloc, Layout};

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "spacedrive")]
extern "C" {
    fn sd_call(method_ptr: *const u8, method_len: usize, payload_ptr: *const u8, payload_len: usize) -> u64;
    fn sd_log(level: i32, ptr: *const u8, len: usize);
    fn sd_error(ptr: *const u8, len: usize);
    fn sd_job_progress(ptr: *const u8, len: usize) -> i32;
    fn sd_job_interrupt() -> i32;
}

// Off wasm (cargo test of the SDK itself) there is no host: calls answer that there is none.
#[cfg(not(target_arch = "wasm32"))]
unsafe fn sd_call(_: *const u8, _: usize, _: *const u8, _: usize) -> u64 {
    0
}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn sd_log(_: i32, _: *const u8, _: usize) {}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn sd_error(_: *const u8, _: usize) {}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn sd_job_progress(_: *const u8, _: usize) -> i32 {
    -1
}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn sd_job_interrupt() -> i32 {
    -1
}

/// The ABI version this SDK implements (`sd_abi_version`).
pub const ABI_VERSION: i32 = 1;

/// Where a zero-length buffer points: never dereferenced, never 0 (0 means failure).
const EMPTY: usize = 8;

/// `sd_alloc`: `len` bytes from Rust's allocator, valid until [`free`]; 0 when out of memory.
pub fn alloc_bytes(len: usize) -> usize {
    if len == 0 {
        return EMPTY;
    }
    match Layout::from_size_align(len, 1) {
        Ok(layout) => unsafe { alloc(layout) as usize },
        Err(_) => 0,
    }
}

/// `sd_free`: releases a buffer from [`alloc_bytes`] (or a handler's output).
pub fn free(ptr: usize, len: usize) {
    if len == 0 || ptr == 0 || ptr == EMPTY {
        return;
    }
    if let Ok(layout) = Layout::from_size_align(len, 1) {
        unsafe { dealloc(ptr as *mut u8, layout) }
    }
}

/// `(len << 32) | ptr`.
pub fn pack(ptr: usize, len: usize) -> u64 {
    ((len as u64) << 32) | (ptr as u64 & 0xffff_ffff)
}

/// Copies `bytes` into a buffer the host frees with `sd_free`, packed: what a handler returns.
pub fn to_host(bytes: &[u8]) -> u64 {
    let ptr = alloc_bytes(bytes.len());
    if ptr == 0 {
        // The host reports EXTENSION_OUT_OF_MEMORY for a trap this close to the memory limit.
        panic!("out of memory returning {} bytes", bytes.len());
    }
    if !bytes.is_empty() {
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr as *mut u8, bytes.len()) }
    }
    pack(ptr, bytes.len())
}

/// The bytes at `ptr..ptr+len`, copied; the host frees its input buffer after the call.
pub fn read_bytes(ptr: usize, len: usize) -> Vec<u8> {
    if len == 0 || ptr == 0 {
        return Vec::new();
    }
    unsafe { std::slice::from_raw_parts(ptr as *const u8, len) }.to_vec()
}

/// `sd_call`: the host's JSON envelope as bytes (empty when the host answered nothing).
pub fn call_raw(method: &str, payload: &[u8]) -> Vec<u8> {
    let packed = unsafe { sd_call(method.as_ptr(), method.len(), payload.as_ptr(), payload.len()) };
    let ptr = (packed & 0xffff_ffff) as usize;
    let len = (packed >> 32) as usize;
    let out = read_bytes(ptr, len);
    free(ptr, len);
    out
}

pub fn log(level: i32, message: &str) {
    unsafe { sd_log(level, message.as_ptr(), message.len()) }
}

/// `sd_error`: the current call's error, as JSON `{"code","message","details"}`.
pub fn set_error(json: &str) {
    unsafe { sd_error(json.as_ptr(), json.len()) }
}

pub fn job_progress(report: &[u8]) -> i32 {
    unsafe { sd_job_progress(report.as_ptr(), report.len()) }
}

pub fn job_interrupt() -> i32 {
    unsafe { sd_job_interrupt() }
}
