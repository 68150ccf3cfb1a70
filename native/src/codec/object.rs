//! `Obj`: one stored object, 24 bytes.
//!
//! A small object without shared binaries (up to `INLINE` bytes of
//! encoding: `{Int, Int}` takes 20) is kept inline, so a hash table slot
//! holds the object itself and a probe touches one cache line less.
//! Anything else is one thin heap allocation: a 4-byte little-endian
//! header, then the encoded tuple. The header holds the length (30 bits)
//! and two flags (a 20-byte object fits the allocator's smallest 32-byte
//! chunk).
//!
//! Inline objects move with their container, so nothing may point into
//! one: the ordered_set index points at its tree's objects (`ObjRef`), and
//! that store keeps every object on the heap (`into_heap`).

use super::format::{self, skip, tuple_element};
use super::shared_bin;
use std::alloc::{alloc, dealloc, Layout};
use std::ptr::NonNull;

const HAS_SHARED: u32 = 1 << 31;
const KEY_NEG_ZERO: u32 = 1 << 30;
const LEN_MASK: u32 = KEY_NEG_ZERO - 1;
const HEADER: usize = 4;

/// Bytes of encoding an inline object holds at most.
pub const INLINE: usize = 22;
/// An inline object's `meta`: its length in the low bits, and this flag.
const INLINE_NEG_ZERO: u8 = 0x80;

pub struct Obj(Repr);

enum Repr {
    Inline { meta: u8, data: [u8; INLINE] },
    Heap(NonNull<u8>),
}

const _: () = assert!(std::mem::size_of::<Obj>() == 24);

// SAFETY: an `Obj` uniquely owns its allocation and the shared-binary
// references inside it; the VM's resource refcounts are thread-safe.
unsafe impl Send for Obj {}
// SAFETY: shared access only reads the bytes; mutation needs `&mut`.
unsafe impl Sync for Obj {}

impl Obj {
    /// The allocation of a heap object, for an index that points at
    /// objects another structure owns (see `ObjRef`). Panics for an inline
    /// object, which moves with its container: `into_heap` first.
    pub fn heap_ptr(&self) -> NonNull<u8> {
        match self.0 {
            Repr::Heap(p) => p,
            Repr::Inline { .. } => unreachable!("an inline object has no allocation"),
        }
    }

    /// Takes ownership of the encoding in `bytes` (including the references of
    /// any shared binaries it names when `has_shared`).
    pub fn new(bytes: &[u8], has_shared: bool, key_neg_zero: bool) -> Obj {
        Self::from_parts(&[bytes], has_shared, key_neg_zero)
    }

    /// As `new`, always on the heap.
    pub fn new_heap(bytes: &[u8], has_shared: bool, key_neg_zero: bool) -> Obj {
        Self::heap_from_parts(&[bytes], has_shared, key_neg_zero)
    }

    /// As `new`, for the encoding made of `parts` one after the other:
    /// written straight into the object, with no buffer in between.
    pub fn from_parts(parts: &[&[u8]], has_shared: bool, key_neg_zero: bool) -> Obj {
        let len: usize = parts.iter().map(|b| b.len()).sum();
        if has_shared || len > INLINE {
            return Self::heap_from_parts(parts, has_shared, key_neg_zero);
        }
        let mut data = [0u8; INLINE];
        let mut at = 0;
        for b in parts {
            data[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        }
        let flag = if key_neg_zero { INLINE_NEG_ZERO } else { 0 };
        Obj(Repr::Inline {
            meta: len as u8 | flag,
            data,
        })
    }

    fn heap_from_parts(parts: &[&[u8]], has_shared: bool, key_neg_zero: bool) -> Obj {
        let len = parts.iter().map(|b| b.len()).sum();
        let header = Self::header_for(len, has_shared, key_neg_zero);
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size; the header and then the
        // parts, `len` bytes in all, fill it before the pointer escapes.
        unsafe {
            let p = alloc(layout);
            let p = NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
            p.as_ptr()
                .copy_from_nonoverlapping(header.to_le_bytes().as_ptr(), HEADER);
            let mut at = p.as_ptr().add(HEADER);
            for b in parts {
                at.copy_from_nonoverlapping(b.as_ptr(), b.len());
                at = at.add(b.len());
            }
            Obj(Repr::Heap(p))
        }
    }

    /// Moves an inline object to the heap (see `heap_ptr`).
    pub fn make_heap(&mut self) {
        if let Repr::Inline { .. } = self.0 {
            *self = Self::new_heap(self.bytes(), false, self.key_neg_zero());
        }
    }

    /// This object, on the heap (see `heap_ptr`).
    pub fn into_heap(mut self) -> Obj {
        self.make_heap();
        self
    }

    fn layout(len: usize) -> Layout {
        Layout::from_size_align(HEADER + len, 1).expect("object layout")
    }

    /// The heap header's flags, also for an inline object.
    #[inline]
    fn flags(&self) -> u32 {
        match &self.0 {
            Repr::Inline { meta, .. } if meta & INLINE_NEG_ZERO != 0 => KEY_NEG_ZERO,
            Repr::Inline { .. } => 0,
            Repr::Heap(p) => heap_header(*p) & !LEN_MASK,
        }
    }

    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { meta, data } => &data[..(meta & !INLINE_NEG_ZERO) as usize],
            Repr::Heap(p) => {
                let len = (heap_header(*p) & LEN_MASK) as usize;
                // SAFETY: `len` bytes follow the header, initialised in `new`.
                unsafe { std::slice::from_raw_parts(p.as_ptr().add(HEADER), len) }
            }
        }
    }

    /// Asks the CPU to start loading a heap object: a scan touches one
    /// separate allocation per object and is otherwise bound by memory
    /// latency. An inline object is already where its slot is.
    #[inline]
    pub fn prefetch(&self) {
        if let Repr::Heap(p) = self.0 {
            // Two lines: a small object may straddle a line boundary.
            let p = p.as_ptr() as usize;
            crate::prefetch::read(p);
            crate::prefetch::read(p + 32);
        }
    }

    pub fn has_shared(&self) -> bool {
        self.flags() & HAS_SHARED != 0
    }

    pub fn key_neg_zero(&self) -> bool {
        self.flags() & KEY_NEG_ZERO != 0
    }

    /// Mutable bytes, for in-place updates that keep the length and the key
    /// (a small-integer counter rewritten as another small integer).
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Inline { meta, data } => &mut data[..(*meta & !INLINE_NEG_ZERO) as usize],
            Repr::Heap(p) => {
                let len = (heap_header(*p) & LEN_MASK) as usize;
                // SAFETY: as in `bytes`, and `&mut self` makes the access unique.
                unsafe { std::slice::from_raw_parts_mut(p.as_ptr().add(HEADER), len) }
            }
        }
    }

    /// Moves this object's binaries that sit in sparse chunks into the
    /// calling thread's chunk, rewriting their references in place (see
    /// `shared_bin`); the references given up go to `moved`, to release.
    pub fn leave_sparse_chunks(&mut self, moved: &mut SharedRefs) {
        if !self.has_shared() {
            return;
        }
        let mut sparse = Vec::new();
        format::shared_bins(self.bytes(), 0, &mut |b| {
            // SAFETY: this object holds a reference, so the binary is alive.
            if unsafe { shared_bin::in_sparse_chunk(b.base, b.len) } {
                sparse.push(b);
            }
        });
        for b in sparse {
            // SAFETY: as above.
            let (base, offset) = unsafe { shared_bin::relocate(b.base, b.offset, b.len) };
            if format::respell_shared(self.bytes_mut(), &b, base, offset) {
                moved.push(b.base, b.len);
            } else {
                // SAFETY: the new copy's reference, which nothing took.
                unsafe { shared_bin::release(base, b.len) }
            }
        }
    }

    /// Bytes of heap this object occupies (for `info(T, memory)`); an
    /// inline object is counted with its container's slots.
    pub fn footprint(&self) -> usize {
        match self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(_) => {
                // Allocator chunks: 8 bytes of overhead, 16-byte granularity, 32 minimum.
                let want = HEADER + self.bytes().len() + 8;
                want.div_ceil(16).max(2) * 16
            }
        }
    }

    /// The encoded key (element `keypos`, 1-based) of this object.
    #[inline]
    pub fn key(&self, keypos: usize) -> &[u8] {
        key_of(self.bytes(), keypos)
    }

    /// Replaces the encoding with `bytes` of the same length, in place (no
    /// allocation, unless an inline object gets a shared binary). Returns
    /// the old encoding's shared-binary references, for the caller to
    /// release. A heap object stays on the heap.
    pub fn overwrite(
        &mut self,
        bytes: &[u8],
        has_shared: bool,
        key_neg_zero: bool,
    ) -> Option<SharedRefs> {
        assert_eq!(
            bytes.len(),
            self.bytes().len(),
            "in-place overwrite keeps the length"
        );
        let p = match &mut self.0 {
            Repr::Inline { .. } => {
                // Inline objects hold no shared binaries: nothing to release.
                *self = Obj::new(bytes, has_shared, key_neg_zero);
                return None;
            }
            Repr::Heap(p) => *p,
        };
        let old_refs = self.has_shared().then(|| {
            let mut refs = SharedRefs::default();
            format::shared_bins(self.bytes(), 0, &mut |b| refs.push(b.base, b.len));
            refs
        });
        let header = Self::header_for(bytes.len(), has_shared, key_neg_zero);
        // SAFETY: same length, so header and bytes fit the allocation.
        unsafe {
            p.as_ptr()
                .copy_from_nonoverlapping(header.to_le_bytes().as_ptr(), HEADER);
        }
        self.bytes_mut().copy_from_slice(bytes);
        old_refs
    }

    fn header_for(len: usize, has_shared: bool, key_neg_zero: bool) -> u32 {
        assert!(len <= LEN_MASK as usize, "object too large");
        let mut header = len as u32;
        if has_shared {
            header |= HAS_SHARED;
        }
        if key_neg_zero {
            header |= KEY_NEG_ZERO;
        }
        header
    }

    /// Whether this object's key, in canonical form, is `key` (a complete
    /// canonical encoding): the probe of every keyed operation.
    #[inline]
    pub fn has_key(&self, keypos: usize, key: &[u8]) -> bool {
        let b = self.bytes();
        if keypos == 1 && b.len() > 2 && b[1] < 0x80 && !self.key_neg_zero() {
            // Encodings are self-delimiting, so a complete key that is a
            // prefix of the first element is that element: no need to find
            // where the element ends.
            return b.get(2..2 + key.len()).is_some_and(|e| same_bytes(e, key));
        }
        self.with_canonical_key(keypos, |k| same_bytes(k, key))
    }

    /// The key in the form keys are hashed and compared in (`-0.0` as `0.0`).
    #[inline]
    pub fn with_canonical_key<R>(&self, keypos: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let key = self.key(keypos);
        if !self.key_neg_zero() {
            f(key)
        } else {
            let mut k = key.to_vec();
            format::normalise_neg_zero(&mut k);
            f(&k)
        }
    }
}

/// A heap object owned elsewhere, read through its allocation (from
/// `Obj::heap_ptr`) for as long as the borrow `'a` of its owner lasts.
pub struct ObjRef<'a> {
    obj: std::mem::ManuallyDrop<Obj>,
    _owner: std::marker::PhantomData<&'a Obj>,
}

/// As `ObjRef`, with the owner borrowed mutably: writes the object in
/// place (`bytes_mut`, or `overwrite`, after which a heap object is still
/// on the heap). Assigning a new `Obj` through it would leak that object
/// and leave the owner's unchanged.
pub struct ObjMut<'a> {
    obj: std::mem::ManuallyDrop<Obj>,
    _owner: std::marker::PhantomData<&'a mut Obj>,
}

impl ObjRef<'_> {
    /// # Safety
    /// `p` is the allocation of a heap object that stays alive and
    /// unchanged for the chosen lifetime.
    pub unsafe fn new(p: NonNull<u8>) -> Self {
        ObjRef {
            obj: std::mem::ManuallyDrop::new(Obj(Repr::Heap(p))),
            _owner: std::marker::PhantomData,
        }
    }
}

impl ObjMut<'_> {
    /// # Safety
    /// `p` is the allocation of a heap object that stays alive, and that
    /// nothing else reads, writes, frees or replaces, for the chosen
    /// lifetime.
    pub unsafe fn new(p: NonNull<u8>) -> Self {
        ObjMut {
            obj: std::mem::ManuallyDrop::new(Obj(Repr::Heap(p))),
            _owner: std::marker::PhantomData,
        }
    }
}

impl std::ops::Deref for ObjRef<'_> {
    type Target = Obj;
    fn deref(&self) -> &Obj {
        &self.obj
    }
}

impl std::ops::Deref for ObjMut<'_> {
    type Target = Obj;
    fn deref(&self) -> &Obj {
        &self.obj
    }
}

impl std::ops::DerefMut for ObjMut<'_> {
    fn deref_mut(&mut self) -> &mut Obj {
        &mut self.obj
    }
}

/// A heap object's header.
#[inline]
fn heap_header(p: NonNull<u8>) -> u32 {
    // SAFETY: a heap object's first HEADER bytes are always initialised.
    unsafe { u32::from_le_bytes(*(p.as_ptr() as *const [u8; HEADER])) }
}

/// `a == b`, without a `memcmp` call for the commonest key: an immediate
/// (a tag byte and a word).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    match (<&[u8; 9]>::try_from(a), <&[u8; 9]>::try_from(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// References to shared binaries, released when this is dropped (after the
/// partition lock, by whoever holds it). The first few are kept inline: an
/// overwrite on the insert path should not allocate.
#[derive(Default)]
pub struct SharedRefs {
    /// Owning resource and length of each binary.
    inline: [(u64, usize); 2],
    len: usize,
    more: Vec<(u64, usize)>,
}

impl SharedRefs {
    fn push(&mut self, base: u64, len: usize) {
        shared_bin::will_release(base, len);
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = (base, len),
            None => self.more.push((base, len)),
        }
        self.len += 1;
    }
}

impl Drop for SharedRefs {
    fn drop(&mut self) {
        let inline = &self.inline[..self.len.min(self.inline.len())];
        for &(base, len) in inline.iter().chain(&self.more) {
            // SAFETY: each reference was owned by an object that gave it up.
            unsafe { shared_bin::release(base, len) }
        }
    }
}

/// What a write leaves to free once its lock is released.
pub enum Garbage {
    Object(Obj),
    Refs(SharedRefs),
}

/// The encoded key (element `keypos`, 1-based) of an encoded object.
#[inline]
pub fn key_of(b: &[u8], keypos: usize) -> &[u8] {
    if keypos == 1 && b.len() > 2 && b[1] < 0x80 {
        // Fast path: tuple tag, one-byte arity, then the key.
        return &b[2..skip(b, 2)];
    }
    let (s, e) = tuple_element(b, 0, keypos - 1).expect("stored object has its key");
    &b[s..e]
}

impl Clone for Obj {
    /// A copy holding its own references to the shared binaries.
    fn clone(&self) -> Obj {
        match self.0 {
            Repr::Inline { meta, data } => Obj(Repr::Inline { meta, data }),
            Repr::Heap(_) => {
                if self.has_shared() {
                    format::shared_bins(self.bytes(), 0, &mut |b| {
                        // SAFETY: `self` holds a reference, so the binary is alive.
                        unsafe { shared_bin::keep(b.base, b.len) }
                    });
                }
                Obj::new_heap(self.bytes(), self.has_shared(), self.key_neg_zero())
            }
        }
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        let Repr::Heap(p) = self.0 else {
            return; // inline: no allocation, no shared binaries
        };
        if self.has_shared() {
            format::shared_bins(self.bytes(), 0, &mut |b| {
                // SAFETY: this object owned one reference to each shared binary.
                unsafe { shared_bin::release(b.base, b.len) }
            });
        }
        let layout = Self::layout(self.bytes().len());
        // SAFETY: allocated in `heap_from_parts` with this same layout.
        unsafe { dealloc(p.as_ptr(), layout) }
    }
}
