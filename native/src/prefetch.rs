//! Cache prefetch hints. A prefetch never faults and changes nothing but
//! the cache, whatever the address, so the addresses may be stale guesses:
//! the worst a wrong one costs is a wasted memory access.

/// Asks the CPU to bring the cache line at `addr` in for reading.
#[inline]
pub fn read(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address,
    // and reads or writes nothing the program can see.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Asks the CPU to bring the cache line at `addr` in, owned for writing
/// (`PREFETCHW`), where the CPU has that instruction: a later write (or
/// atomic) then does not wait for the line to come from another core.
#[inline]
pub fn write(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_prefetchw() {
        // SAFETY: a prefetch is a hint: it never faults, whatever the
        // address, and changes no register, flag or memory; the CPU has
        // the instruction (checked above).
        unsafe {
            std::arch::asm!("prefetchw [{0}]", in(reg) addr, options(nostack, readonly, preserves_flags));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Whether the CPU has `PREFETCHW` (CPUID leaf 0x8000_0001, ECX bit 8),
/// asked once.
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_prefetchw() -> bool {
    use std::arch::x86_64::__cpuid;
    static HAS: once_cell::sync::Lazy<bool> = once_cell::sync::Lazy::new(|| {
        // SAFETY: CPUID exists on every x86_64 CPU (`__cpuid` is a safe
        // function on newer compilers, hence the allow).
        #[allow(unused_unsafe)]
        unsafe {
            __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
        }
    });
    *HAS
}
