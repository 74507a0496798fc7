/**
 * constants.ts — every number the heap layout is built from, named once.
 *
 * Owns: alignment, size classes, pool and arena defaults, raw-allocator (TLSF) parameters,
 * chunk flags, the in-memory header layout and the debug fill bytes. Everything else derives
 * from these; no other file writes a layout number of its own.
 * Must not: hold state or depend on any other module.
 */

// ---------------------------------------------------------------------------------------------
// Alignment and size classes. CPython before 3.8: 8-byte alignment, 64 classes to 512 bytes (our
// default); CPython 3.8+ on 64-bit: 16-byte alignment, 32 classes (the `alignment: 16` option).
// ---------------------------------------------------------------------------------------------
export const enum Size {
  /** The coarser alignment a heap may choose for its small blocks, and always that of raw blocks: 16 bytes. */
  ALIGNMENT_SHIFT = 4,
  ALIGNMENT = 1 << ALIGNMENT_SHIFT,
  /** The finer alignment of small blocks: 8 bytes. */
  MIN_ALIGNMENT_SHIFT = 3,
  /** Largest request served by the object allocator; larger ones go to the raw allocator. */
  SMALL_REQUEST_THRESHOLD = 512,
  /** Size classes with the finest alignment (64); a 16-byte heap uses the first half (32). */
  MAX_SIZE_CLASSES = SMALL_REQUEST_THRESHOLD >>> MIN_ALIGNMENT_SHIFT,
}
/**
 * Default alignment of small blocks: 8 bytes. Enough for every JS typed array (Float64Array,
 * BigInt64Array and their Atomics need 8) and for WebAssembly, whose loads and stores (v128
 * included) take any address. It is what C compiled to WebAssembly gets from its own malloc:
 * Emscripten's allocators and wasi-libc's dlmalloc (the one in our benchmark) align to 8.
 * 16 remains for code that relies on the low four bits of its pointers.
 * Footprint on the shared traces (peak footprint / peak live bytes: compileall, imports, json,
 * minidom): 8 bytes 1.154, 1.052, 1.064, 1.113; 16 bytes 1.101, 1.069, 1.107, 1.144; speed equal
 * (cachegrind: 326 and 325 instructions an event on compileall).
 */
export const DEFAULT_ALIGNMENT_SHIFT = Size.MIN_ALIGNMENT_SHIFT;
/** Size classes of a heap whose small blocks are aligned to 2^shift bytes. */
export const sizeClasses = (shift: number): number => Size.SMALL_REQUEST_THRESHOLD >>> shift;
/** Bytes of a block of size class `idx` (0-based) in a heap whose small blocks are aligned to 2^shift. */
export const classSize = (idx: number, shift: number): number => (idx + 1) << shift;
/**
 * A pool's INVERSE word (Pool.INVERSE) for blocks of `size` bytes: ceil(2^32 / size), at most
 * 2^29 (size >= 8: a small integer to V8). With it, an offset off (0 <= off < 2^20, the largest
 * pool) is a multiple of size exactly when off * INVERSE mod 2^32 < INVERSE (onBoundary): one
 * multiplication where a block-boundary test took a division (Lemire, Kaser & Kurz, "Faster
 * remainder by direct computation", 2019: exact while 32 >= bits(off) + bits(size), 20 + 10;
 * test/pool-inverse.test.ts checks every class size and offset). 0 for size 0.
 */
export const blockInverse = (size: number): number => (size > 0 ? Math.floor(0xffffffff / size) + 1 : 0);
/**
 * Whether inv is blockInverse(size) (size 8..512, inv any uint32), without a division: inv * size
 * (exact in doubles) lies in [2^32, 2^32 + size) for that one inv. Hot paths write it out.
 */
export const inverseOk = (inv: number, size: number): boolean => {
  const e = inv * size - 4294967296;
  return e >= 0 && e < size;
};
/** Whether off (0 <= off < 2^20) is a multiple of the block size whose blockInverse is inv. Hot paths write it out. */
export const onBoundary = (off: number, inv: number): boolean => Math.imul(off, inv) >>> 0 < inv;

// ---------------------------------------------------------------------------------------------
// Pools and arenas. CPython 3.10+ on 64-bit: 16 KiB pools, 1 MiB arenas; before: 4 KiB pools,
// 256 KiB arenas. Ours: 16 KiB pools, arenas of 8 pools (128 KiB).
// ---------------------------------------------------------------------------------------------
export const DEFAULT_POOL_SHIFT = 14; // 16 KiB
/**
 * Default arena size: 8 pools. An arena is a raw chunk, not an mmap, so a small one costs nothing
 * extra to get, and its never-used pools are less footprint. Peak footprint over peak live bytes
 * on the shared traces (compileall, imports, json, minidom; 16-byte alignment): 1 MiB arenas
 * 1.186, 1.077, 1.168, 1.163; 1 MiB arenas with 128 KiB ones from the top 1.103, 1.070, 1.103,
 * 1.164; 128 KiB arenas 1.099, 1.071, 1.106, 1.144.
 */
export const DEFAULT_POOLS_PER_ARENA_SHIFT = 3;
export const MIN_POOL_SHIFT = 12; // 4 KiB: room for the largest class with a sane count
/**
 * A pool whose free list ran dry carves up to this many bytes of never-used blocks at once (at
 * least one block; CPython carves one): malloc's call to carve (extendPool) is then rare enough
 * that V8 leaves it out of line, which keeps malloc small enough to inline into its callers, and
 * the carve can check the pool's words whole (docs/performance.md, "Carving in batches").
 */
export const CARVE_BYTES = 512;
export const MAX_POOL_SHIFT = 20;
export const MAX_ARENA_SHIFT = 26; // 64 MiB
/** Pools per arena is at most 128, so a pool index plus one fits a byte of the arena map. */
export const MAX_POOLS_PER_ARENA_SHIFT = 7;
/**
 * The pool map (one bit per pool-sized slot of the address space, obmalloc's isOurs) has two
 * parts: the slots below 2^POOL_MAP_LOW_SHIFT (256 MiB; 2 KiB with 16 KiB pools) in the heap
 * header, the slots above it (up to the growth limit: 30 KiB for 4 GiB) in a raw chunk taken
 * when an arena first reaches past 256 MiB. A small heap's header is then 7.4 KiB, not 37 (the
 * whole map, in the header up to HEAP_VERSION 5, was half the footprint of a 64 KiB heap). Not
 * lower: isOurs tests the high part in a second branch with a call, and a replay loop compiled
 * with it spills around it (json's heap crossing 64 MiB, the low part's first size: 243-257
 * instructions an event against 234; docs/performance.md, the pool map's high part and V8).
 */
export const POOL_MAP_LOW_SHIFT = 28;
/**
 * A hole in the raw heap takes an arena when it holds this fraction of arenaSize (an eighth: one
 * pool with the default 8-pool arenas); the arena then has the pools that fit. A half until
 * 2026-12-05: holes of one to three pools stayed empty while the top grew for new arenas, and
 * the whole shared traces' peaks held them (bench:footprint: compileall 1.110 -> 1.081, json
 * 1.106 -> 1.054, minidom 1.134 -> 1.120 of peak live; docs/performance.md, "Holes of one pool").
 */
export const HOLE_ARENA_SHIFT = 3;
/**
 * With sub-pools, the first this-many arenas (by the arenas' high-water mark) hold one pool each;
 * later ones 2, 4, ... up to poolsPerArena. A new arena's pools lie unused until its classes need
 * them, and they count in the footprint from the start: one pool at a time while the heap is
 * small (64 pools: 1 MiB of 16 KiB pools), larger arenas once it is large.
 */
export const ONE_POOL_ARENAS = 64;

/** Pool header, at the start of every pool (byte offsets). */
export const enum Pool {
  COUNT = 0, // blocks handed out
  FREEBLOCK = 4, // first free block, 0 when none
  NEXT = 8, // usedpools / arena free-pool link
  PREV = 12, // usedpools link
  ARENA = 16, // arena header address
  SZIDX = 20, // size class index
  NEXTOFFSET = 24, // offset of the next never-used block
  MAXNEXTOFFSET = 28, // last offset a block may start at
  /**
   * The thread slot whose usedpools hold this pool, as OWNER_KEY + the slot (slot 0 without
   * threads); 0 in a pool back in its arena. Never a small number: free() already compares this
   * word with its own, so bytes that are not a pool header (a stray bit of the pool map over raw
   * blocks: free takes a raw block's neighbours as a pool header) fail that test and go to
   * freeSlow, which names them, where zeros and small integers there passed (HEAP_VERSION 18).
   */
  OWNER = 32,
  REMOTE = 36, // blocks freed by other threads: atomic list head | Remote.FULL
  /**
   * ceil(2^32 / the block size) (blockInverse; the size itself is classSize(SZIDX)): free's
   * block-boundary test is one multiplication, `off * INVERSE mod 2^32 < INVERSE` (onBoundary),
   * not a division. Until HEAP_VERSION 20 this word held the block size (Pool.SIZE).
   */
  INVERSE = 40,
  /**
   * 0 in a whole pool. In the header of a sub-pool (a pool slot cut into sub-pools of 2^shift
   * bytes, each with a header of its own: see SubPool) bits 0-7 hold that shift; in the slot's
   * first header (its sub-pool 0) bits 8-15 also count the slot's sub-pools in use.
   */
  SUB = 44,
  OVERHEAD = 48, // header bytes; keeps blocks 16-byte aligned
  /** Marks a pool header whose pool holds no size class (never used). */
  SZIDX_NONE = 0xffffffff,
  /** OWNER's key (OWNER_KEY + slot): far from 0 and small integers, and below 2^30 with any slot, so V8 keeps the word a small integer. */
  OWNER_KEY = 0x2f5a0000,
}
/** The OWNER word of a pool in thread slot k's usedpools (Pool.OWNER). */
export const ownerWord = (slot: number): number => Pool.OWNER_KEY + slot;
/** The thread slot an OWNER word names (ownerWord's inverse), as a uint32: far past any slot for a word no ownerWord() wrote. */
export const ownerSlot = (word: number): number => (word - Pool.OWNER_KEY) >>> 0;

/**
 * A free block of a pool (on its free list, or carved ahead of use): its first word links to the
 * next free block (0 at the list's end), its second holds the tag, TAG_VALUE as a uint32
 * (0xffffffab). Every push writes the tag (free, the batch carve, a pool's first block, other
 * threads' frees; JS and the WebAssembly fast path), every pop checks and clears it (malloc), as
 * glibc's tcache `key`. So malloc never hands out a block twice: a block freed twice is on its
 * list twice (or its list loops back to it), and the second time malloc comes to it its tag is
 * gone (HeapCorruptionError "free block tag", nothing handed out); so is a freed block written
 * since, or a live block a damaged link leads to. Release modes' free does not read the block (a
 * load of a cold block at every free cost the replays 7-14% of their time: docs/performance.md,
 * "Double frees in release mode"): it refuses a free of its pool's last freed block at once, any
 * other double free is refused by malloc later; hardened: true's free (and realloc, usableSize in
 * every mode) walks the pool's free list when the block holds the tag: found there, a double free
 * or a block carved ahead and never handed out (InvalidPointerError "double-free"); not found,
 * live data that happens to hold the tag. check() reports a listed block without it. A negative
 * small integer, so that JS's code holds it in a one-byte immediate (each use counts against the
 * bytecode budget V8 inlines malloc and free within): words are read as uint32, so JS tests a
 * word with `(w ^ TAG_VALUE) === 0`, never `w === TAG_VALUE`. Its low byte (0xab) is none of
 * its other three (0xff): the tag word read 1-7 bytes off a free block's start never matches, so
 * the WebAssembly fast path's inline pop needs no alignment test of a FREEBLOCK a one-byte
 * overflow changed (test/wasm-damage.test.ts checks both).
 */
export const enum FreeBlock {
  LINK = 0,
  TAG = 4,
  TAG_VALUE = -0x55,
}

/**
 * The raw start: a size class that has never taken a pool has its blocks served by the raw
 * allocator (as malloc mode serves them: 8 bytes a chunk, 16-byte granularity), until the
 * object allocator's raw chunks of the request's chunk size reach SubPool.RAW_FIRST live at
 * once or RAW_EVER_LIMIT handed out; from then on the class takes pools (sub-pools first) for
 * good (its SubPool.PEAK is no longer 0), and its raw blocks stay raw until freed. A heap with
 * a few blocks of most sizes then takes what malloc mode takes (at 64 KiB of live data
 * 1.15-1.37x live, against 1.42-1.98x with a sub-pool for each class's first block; the 16 KiB
 * pool slot its sub-pools are cut from is most of that), and a class with many blocks, or one
 * churning through few, soon has the pools' speed. Counted by chunk size, not class: free
 * knows a raw chunk's size, not the class it was asked for (its size is one of two classes').
 * The counts are the object allocator's raw chunks of <= BUCKETS x 16 bytes, kept by its raw
 * calls (JS ObjectAllocator and the WebAssembly fast path alike); a block of another family
 * freed here (a misuse the debug modes report) only lowers a count, never below 0.
 */
export const enum RawStart {
  /** Chunk sizes 16..(BUCKETS - 1) x 16 bytes: a request of up to 512 bytes takes at most 528. */
  BUCKETS = 36,
  /** The live limit rawFirst: true asks for (createHeap's rawFirst; off by default). */
  DEFAULT_FIRST = 1024,
  /** RAW_EVER_LIMIT = EVER_FACTOR x RAW_FIRST. */
  EVER_FACTOR = 2,
}

/**
 * Sub-pools: a young size class (one that has never held its young limit, SubPool.LIMIT) takes
 * its pools small. A pool slot of an arena is cut into sub-pools of 2^SHIFT bytes (1 KiB), each a
 * pool of its own (header, free list, usedpools links): malloc and free's fast paths do not tell
 * them apart. A block's pool is found by masking its address with the pool size, then, when that
 * header's Pool.SUB holds a shift, with the sub-pool size (ObjectAllocator.poolOf). free's fast
 * path masks with the pool size only: a block of any sub-pool but the slot's first lies past that
 * sub-pool's carved blocks and takes the slow path, which finds its sub-pool. A class takes
 * sub-pools until the most it ever held (SubPool.PEAK) reaches its limit, then whole pools, for
 * good (a class that has needed that much once is no small one: its next pools are whole even
 * after it shrank), but for the free sub-pools young classes emptied in slots that other sub-pools
 * hold: when the heap would take a new arena and the free list holds two slots' worth, an old
 * class of 64-byte blocks or larger that holds a pool's bytes or more takes one of them first
 * (takeShift, takeStranded). Young classes alone could use them: uthash's waves of inserts and
 * deletes (payloads over 38 classes) had 511 free sub-pools in 84 slots at its peak while
 * whole-pool classes grew the arenas from 78 to 85; its peak 3.39 -> 3.01 MiB (dlmalloc 2.56;
 * 2.76 with every class, which cost compileall's busy 48-byte class 1.8% more instructions). Free sub-pools wait on a list (the table at
 * H.SUBPOOLS); a slot whose sub-pools are all free goes back to its arena as a pool. A sub-pool
 * cut short by the arena header (the arena's last pool's tail) is used when a block of every
 * class fits. One size for all: of the sizes tried (256 B to 2 KiB, doubling with a class's demand or not, two to four blocks at
 * least), one 1 KiB size took the least footprint from 64 KiB to 16 MiB of live data
 * (bench:footprint; every other size or rule leaves more slots part-used: one per size), though a
 * 512-byte class gets one block a sub-pool.
 * Churn: a young class whose few blocks fill its sub-pools over and over (a sub-pool of two
 * 400-byte blocks fills at nearly every malloc of the class and un-fills at nearly every free,
 * each a usedpools unlink or relink, several times the work of a pop or push) pays for the bytes
 * sub-pools save many times over. Its fills are counted (SubPool.FILLS, heaps without threads,
 * JS and the WebAssembly fast path alike, at the malloc that hands out a sub-pool's last block),
 * and a class whose sub-pools filled FILL_FLOOR times and FILL_RATIO times for every KiB it ever
 * held is no longer young (its PEAK raised to its LIMIT): whole pools from then on, as if it had
 * held its limit. A heap that grows and shrinks without such churn never meets it (the footprint
 * sweep's traces: none), a class that churns pays at most a pool's bytes once for it.
 */
export const enum SubPool {
  SHIFT = 10, // 1 KiB
  /** No class stays young past 2^YOUNG_MAX_SHIFT pools' bytes (youngLimit). */
  YOUNG_MAX_SHIFT = 2,
  /** Bits of Pool.SUB: the shift, and (slot's first header) the count of sub-pools in use. */
  SHIFT_MASK = 0xff,
  USED_SHIFT = 8,
  /** The table at H.SUBPOOLS (byte offsets): the head of the list of free sub-pools. */
  FREE = 0,
  /** The raw start's live limit (createHeap's rawFirst; 0: off): see RawStart. */
  RAW_FIRST = 4,
  /** The raw start's limit on raw chunks ever handed out of one size (RawStart.EVER_FACTOR x RAW_FIRST). */
  RAW_EVER_LIMIT = 8,
  /**
   * What free() kept since the object allocator last gave back what it keeps (releaseKept, which
   * writes 0), for the raw allocator's next growths of its top (obmalloc's releaseBeforeTop; the
   * WebAssembly fast path's rawMalloc leaves them to JS): KEPT_FRESH when it kept a class's empty
   * sub-pool alone in its slot (JS's keepSpare, the fast path's free), or left one sub-pool in a
   * slot (which may be such a spare); KEPT_AGED once the top grew, below its peak, with it so;
   * the growth at KEPT_AGED gives everything back (a program whose lone small block comes and
   * goes between raw blocks at the top keeps it: marked afresh each time). KEPT_WHOLE when it kept
   * a whole pool alone in its arena (the WebAssembly fast path; JS gives whole pools back): the
   * top's growth past its peak gives back (at every growth,
   * one-pool arenas' pools came and went: imports +10 instructions an event). Past the peak,
   * any mark gives back. A hint only (heaps without threads write it; any value is safe): a spare
   * sub-pool alone in its slot, kept between raw blocks, held zlib's peak 17-20% over malloc mode's.
   */
  KEPT = 12,
  KEPT_FRESH = 1,
  KEPT_AGED = 2,
  KEPT_AGE_MASK = 3,
  KEPT_WHOLE = 4,
  /** Per size class, bytes of the pools and sub-pools it holds. */
  HELD = 16,
  /** Per size class, the most bytes it ever held at once: its LIMIT or more, whole pools from then on. */
  PEAK = HELD + Size.MAX_SIZE_CLASSES * 4,
  /** Per size class, its young limit (youngLimit; written with the header, 0 with subPools: false): JS and wasm read it here. */
  LIMIT = PEAK + Size.MAX_SIZE_CLASSES * 4,
  /** Per raw chunk size (RawStart.BUCKETS, by size >> 4): the object allocator's raw chunks of that size now live. */
  RAW_LIVE = LIMIT + Size.MAX_SIZE_CLASSES * 4,
  /** Per raw chunk size: how many it ever handed out (counts up to RAW_EVER_LIMIT). */
  RAW_EVER = RAW_LIVE + RawStart.BUCKETS * 4,
  /**
   * Per size class: how many times its sub-pools filled (heaps without threads and without the
   * raw start; see Churn above), a 16-bit count each (at most 0xffff; 64 classes: 128 bytes).
   * Over RAW_LIVE (144 bytes), which only the raw start (rawFirst) keeps: the header stays the
   * size it was (a table of its own moved every
   * chunk 256 bytes up, and that alone moved bench:footprint's rows: json whole 1.054 -> 1.104,
   * compileall cut 4 MiB 1.087 -> 1.116; docs/performance.md, session 36).
   */
  FILLS = RAW_LIVE,
  BYTES = RAW_EVER + RawStart.BUCKETS * 4,
  /** A class churns (Churn above) once its sub-pools filled at least FILL_FLOOR times ... */
  FILL_FLOOR = 1024,
  /** ... and 2^FILL_RATIO_SHIFT (256) times for every 2^SHIFT bytes (KiB) of its PEAK. */
  FILL_RATIO_SHIFT = 8,
}


/**
 * The most a class of `size`-byte blocks may have held and still take sub-pools (SubPool.LIMIT).
 * In sub-pools a class loses each one's header and the tail its blocks do not fill (`waste` of
 * every 2^SHIFT bytes: 48 bytes for 8-byte blocks, 480 for 496-byte ones); in whole pools, the
 * part-used last pool, half a pool on average. So a class stays young while what its sub-pools
 * lose is below half a pool: held * waste / 2^SHIFT < poolSize / 2, at least half a pool's bytes
 * and at most 2^YOUNG_MAX_SHIFT pools'. (One pool for every class before 2026-12-03, then two;
 * this, at most four: footprint medians at 256 KiB 1.38 -> 1.26, 1 MiB 1.24 -> 1.21; at most eight
 * gave 1 MiB 1.19 but compileall's whole replay 1.074 -> 1.093: docs/performance.md.)
 */
export function youngLimit(size: number, poolShift: number): number {
  const sub = 1 << SubPool.SHIFT;
  const waste = sub - Math.floor((sub - Pool.OVERHEAD) / size) * size;
  const half = 1 << (poolShift - 1);
  return Math.min(1 << (poolShift + SubPool.YOUNG_MAX_SHIFT), Math.max(half, Math.floor((half * sub) / waste)));
}

/** Pages as an OS keeps them resident, for stats().residentBytes: 4 KiB. */
export const RESIDENT_PAGE_SHIFT = 12;

/**
 * Arena header, in the last bytes of the arena chunk's usable space (the tail of its last pool).
 * The chunk's payload is the first pool, pool-aligned, and the chunk is a whole number of pools
 * long, so arenas that follow one another need no alignment gap between them.
 */
export const enum Arena {
  NFREEPOOLS = 0,
  NTOTALPOOLS = 4,
  FREEPOOLS = 8, // singly linked through Pool.NEXT
  NEXT = 12, // usable_arenas links
  PREV = 16,
  POOL_ADDRESS = 20, // next never-carved pool
  MAGIC = 24, // MAGIC_VALUE ^ header address
  FIRST = 28, // the first pool (the arena chunk's payload)
  OVERHEAD = 32,
  MAGIC_VALUE = 0x4152454e, // "AREN"
}

/**
 * The pool word REMOTE, written by threads that free a block of a pool another thread owns
 * (heaps with threads: true). It heads a list of such blocks, linked through their first word,
 * which only the owner takes (whole, by exchange). FULL is set by the owner when the pool is full
 * and out of its usedpools list: the first foreign free then clears it and puts its block on the
 * owner's delayed list instead (Slot.DELAYED), so that the owner hears of the pool again. FULL
 * stays set when the owner itself frees into the pool (only a foreign free clears it), so it
 * means "was full since the last foreign free": a pool out of usedpools always has it.
 */
export const enum Remote {
  FULL = 1,
}

/**
 * A thread slot in the heap header: per-thread object-allocator state (heaps with threads: true
 * have MAX_THREADS + 1 of them, the last owning the pools of threads that left; others have one).
 * Its usedpools array (Used) is elsewhere, at the address in USED: slot 0's (the creator's) and
 * the orphan slot's in the header (Layout.usedInline), every other slot's in a raw chunk taken
 * when the slot is first claimed (heap/heap.ts claimSlot: 544 bytes of header a slot at
 * HEAP_VERSION 9, 2.2 MB at maxThreads 4000) and kept for the next thread that claims it.
 */
export const enum Slot {
  STATE = 0, // SlotState
  DELAYED = 4, // atomic list head of blocks freed into this thread's full pools by others
  /** Address of the slot's usedpools entry 0 (its Used array + Used.HEADS); 0: never claimed (no array yet). */
  USED = 8,
  /**
   * Threads: the claim of the handle that holds the slot (a random non-zero word it wrote when
   * it claimed the slot, HEAP_VERSION 18), 0 while the slot is free. A STATE word a stray write
   * set to FREE left a held slot to the next attachHeap, and two handles allocated through one
   * usedpools: a free slot whose claim is not 0 is refused as damaged (heap/heap.ts claimSlot).
   * Unused (0) without threads.
   */
  CLAIM = 12,
  /** Bytes of one usedpools head (next, prev): 1 << HEAD_SHIFT. */
  HEAD_SHIFT = 3,
  BYTES = 16,
}
/**
 * A usedpools array: a list head of two words (next, prev) per size class. As in CPython, the
 * head of class c is the NEXT/PREV pair of a pseudo-pool (the sentinel) at HEADS + 8c - 8, of
 * which only those two words are written. The sentinel trick (obmalloc.ts mallocIn) reads a
 * sentinel's SZIDX word, which is the next class's PREV link, an address; the last class's
 * reads GUARD + 4, past the heads: GUARD's two words hold Pool.SZIDX_NONE, never a class. In a
 * raw chunk (flagged Flag.ARENA: internal, see raw/chunks.ts usedChunkSlot), the payload is the
 * array, whose SLOT word names the slot whose USED points at its HEADS (SLOT and the word after
 * it are class 0's sentinel's COUNT and FREEBLOCK, never read). 528 bytes: a heap without threads
 * has the 544 bytes of header its one slot took up to HEAP_VERSION 9.
 */
export const enum Used {
  SLOT = 0, // the thread slot whose array it is (its USED word points back here + HEADS)
  HEADS = 8,
  GUARD = HEADS + (Size.MAX_SIZE_CLASSES << Slot.HEAD_SHIFT), // 520: two words of Pool.SZIDX_NONE
  BYTES = GUARD + 8, // 528
}
/** The sentinel pseudo-pool of size class idx in the usedpools whose head 0 is at usedBase (NEXT/PREV of it are the head). */
export const usedSentinel = (usedBase: number, idx: number): number => usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
export const enum SlotState {
  FREE = 0,
  LIVE = 1,
}
export const DEFAULT_MAX_THREADS = 64;
/** Thread ids share a debug site word with a 20-bit trace tag (debug/sites.ts): 12 bits. */
export const MAX_MAX_THREADS = 4000;
/** Largest rawFirst (HeapOptions.rawFirst): its ever limit, 16 times it, stays far from 2^32. */
export const MAX_RAW_FIRST = 65536;

// ---------------------------------------------------------------------------------------------
// Raw allocator: two-level segregated fit (TLSF) with a top chunk ("wilderness")
// ---------------------------------------------------------------------------------------------
export const enum Tlsf {
  /** Second-level lists per first-level class: 2^5 = 32. */
  SL_SHIFT = 5,
  SL_COUNT = 1 << SL_SHIFT,
  /** Sizes below 2^FL_SHIFT are "small" and spread linearly over the second level. */
  FL_SHIFT = SL_SHIFT + Size.ALIGNMENT_SHIFT, // 9 (raw chunks are always 16-byte aligned)
  SMALL_BLOCK = 1 << FL_SHIFT, // 512
  /** First-level classes: sizes up to 2^32 (msb 31) map to fl = msb - FL_SHIFT + 1 ≤ 23. */
  FL_COUNT = 32 - FL_SHIFT + 1, // 24
  /** malloc looks at this many chunks of the request's own list before a larger list. */
  OWN_LIST_TRIES = 4,
}

/**
 * The raw cache (glibc's tcache, in the heap): a chunk of up to MAX_SIZE bytes that free() gives
 * back is kept as it is, unmerged, on a list of its size, and the next malloc of that chunk size
 * takes it back in a few loads and stores, where the TLSF lists would merge it with its free
 * neighbours, list the result, and split a chunk off again. A cached chunk's header reads
 * size | FREE | ARENA | TAG (and PREV_FREE as the chunk below it says), a header no other
 * chunk has: free chunks are never arenas, so every merge test is `(w & (FREE | ARENA)) === FREE`
 * and a cached chunk is, to its neighbours, a chunk in use (no footer, never merged), to free()
 * a block freed already (a double free), to check() and the walkers free bytes. Its payload's
 * first word links to the next cached chunk of its list. Lists by (size >> 4) & (BINS - 1):
 * sizes 16..2048 each a list of their own, larger ones share (malloc takes a list's head only
 * when it is exactly its size). The cache is emptied (every chunk merged and listed as TLSF
 * would have it) before the top passes its peak (malloc) or takes a chunk (an arena, an aligned
 * chunk), when a free finds the cache full, and at heap.collect(): so the peak footprint is
 * TLSF's alone. A top that comes down, or grows again under its peak, leaves the cache as it is
 * (until session 55 both emptied it, and the WebAssembly fast path left such a free to JS: a C
 * zone allocator's 8 KiB chunk at the top, freed for each message, was a call into JS each time;
 * msgpack-c's replay in wasm 364 -> 6 calls into JS, 165 -> 142 instructions an event, footprint
 * the same within 0.03% on bench:footprint). Full is
 * one chunk for every 2^HEAP_SHIFT bytes of chunks below the top, at least MIN_LIMIT and at most
 * LIMIT: cached chunks are holes only their size takes, and on small heaps many of them moved
 * where later blocks went (bench:footprint over the shared traces up to 1 MiB of live data,
 * against no cache: 128 at any size +1.3% footprint and +1.8% resident pages on average, 4 at any
 * size +0.2% and +0.0%).
 */
export const enum RawCache {
  /** The table at H.RAW_CACHE (byte offsets): chunks cached now (0: nothing to empty). */
  COUNT = 0,
  /** BINS list heads (chunk addresses, 0 at a list's end). */
  HEADS = 4,
  /** HEADS in words, for code that indexes the table as words (src/raw/tlsf.ts). */
  HEAD_WORDS = HEADS >>> 2,
  BINS_SHIFT = 7,
  BINS = 1 << BINS_SHIFT,
  /** The largest chunk size cached (a request of up to MAX_SIZE - 4 bytes). */
  MAX_SIZE = 4096,
  /** The most chunks cached at once: on heaps of 2^HEAP_SHIFT x LIMIT bytes (8 MiB) and more. */
  LIMIT = 128,
  /** The fewest chunks a full cache holds, however small the heap. */
  MIN_LIMIT = 4,
  /** A full cache holds one chunk for every 2^HEAP_SHIFT bytes (64 KiB) from the heap's start to its top. */
  HEAP_SHIFT = 16,
  BYTES = HEADS + BINS * 4,
}

/**
 * A raw chunk at address c (c ≡ 8 mod 16), payload at c + 8:
 *   [c + 0] size of the previous chunk (its footer): a free one's, and an in-use one's too
 *           (HEAP_VERSION 17), unless that chunk is flagged ARENA (the object allocator's)
 *   [c + 4] size | flags
 *   [c + 8] free chunks: next free chunk; [c + 12]: previous free chunk
 * usable = size - 8: the footer is not the user's. An in-use chunk's size has a second copy, so a
 * size word a stray write changed to end at another chunk's start is seen (the footer there is
 * that chunk's neighbour's size, always smaller), and so is a write of 1-4 bytes past a block.
 */
export const enum Chunk {
  PREV_SIZE = 0,
  SIZE = 4,
  NEXT_FREE = 8,
  PREV_FREE = 12,
  HEADER = 8, // payload offset
  OVERHEAD = 8, // bytes of a chunk a user cannot use (its header word and its footer)
  MIN = 16,
  /** Largest request that could ever fit (a memory is at most 4 GiB - 64 KiB); above it, NULL. */
  MAX_REQUEST = 0xffff0000 - 32,
  /**
   * The top's mark: the word where a chunk at the top would keep its size (top + SIZE) holds
   * TOP_MAGIC ^ top, and no other word below the top does (a top that comes down clears the
   * mark it leaves). The raw allocator checks it before it carves from the top or merges into
   * it: H.TOP changed by a stray write (the header sits at address 0 by default: a write through
   * NULL) would hand out or merge live chunks. Its low bits read TAG, not PREV_FREE: to code
   * that looks at the chunk after the last one, the top looks like a chunk in use.
   */
  TOP_MAGIC = 0x5f0b7e0c,
  /**
   * A fence's mark (raw/top.ts fence()): pages a WebAssembly module grew for itself (its own
   * memory.grow, past H.END) lie inside an in-use chunk flagged ARENA, its fence, that the heap
   * never hands out, merges or frees. The fence ends 8 bytes into the heap's own pages that follow
   * the module's; those hold FENCE_MAGIC ^ c (c the fence's address: fenceMark) and the address
   * where the module's pages begin. Walkers tell a fence from an arena by that mark.
   */
  FENCE_MAGIC = 0x46e4ce5d,
  /**
   * A header word holds its chunk's size xor SIZE_KEY (sizeOf, header; the flags, its low 4
   * bits, are plain): an underflow of 3 bytes holding a small number made a malloc-mode raw
   * block's size 1-16 KiB in 3.3% of such writes before the key (docs/performance.md, "A raw
   * chunk's size word"). Stored xor the key, zeros and small numbers read as sizes of about 1.4
   * GiB: past the top of any heap smaller than that, and refused. Footers (the next chunk's
   * PREV_SIZE, free chunks' and, since HEAP_VERSION 17, in-use ones') hold the plain size.
   */
  SIZE_KEY = 0x5a5a5a50,
}
/** The size of a chunk whose header word is sw (its size bits are stored xor Chunk.SIZE_KEY). */
export const sizeOf = (sw: number): number => ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
/** A chunk's header word: its size, stored xor Chunk.SIZE_KEY, and its flags (Flag bits). */
export const header = (size: number, flags: number): number => (size ^ Chunk.SIZE_KEY) | flags;
/** The mark the word at top + Chunk.SIZE holds (Chunk.TOP_MAGIC). */
export const topMark = (top: number): number => (Chunk.TOP_MAGIC ^ top) >>> 0;
/**
 * Whether `end` can be H.END over a top at `top` in a memory of byteLength bytes growing to
 * maxBytes: at or past the top chunk's header, a multiple of 8, no further than the memory is or
 * may grow (a copy may end below it). validateHeader and the raw allocator's growth test it.
 */
export const endOk = (end: number, top: number, byteLength: number, maxBytes: number): boolean =>
  end >= top + Chunk.HEADER && (end & 7) === 0 && end <= Math.max(byteLength, maxBytes);
/** The mark the fence chunk at c of `size` bytes holds at c + size - 8 (Chunk.FENCE_MAGIC). */
export const fenceMark = (c: number): number => (Chunk.FENCE_MAGIC ^ c) >>> 0;
export const enum Flag {
  FREE = 1,
  PREV_FREE = 2,
  TAG = 4, // always set on a real header: catches many wild pointers
  ARENA = 8, // the chunk is an arena of the object allocator
  MASK = 15,
}

// ---------------------------------------------------------------------------------------------
// Heap header, at heapBase: every byte of allocator state lives here or in chunk/pool/arena headers
// ---------------------------------------------------------------------------------------------
export const HEAP_MAGIC = 0x50594d41; // "PYMA"
/** 22: a raw cache chunk may end at the top (the cache is kept when the top comes down: RawCache; an older check() reports such a heap as damaged); 21: a debug quarantine ring entry has a check word (Debug.Q_ENTRY 12, Q_ENTRY_CHECK); 20: Pool.INVERSE (ceil(2^32 / block size)) in place of the block size word Pool.SIZE; 18: a thread slot's claim word (Slot.CLAIM), pools' OWNER words keyed (Pool.OWNER_KEY); 17: in-use raw chunks keep a footer (Chunk.OVERHEAD 8); 16: SubPool.FILLS (a young class's sub-pool fills); 15: the heap's own end (H.END) and fences over pages a module grew; 14: the raw cache (H.RAW_CACHE, RawCache); 13: chunk header words hold the size xor Chunk.SIZE_KEY; 12: the views' words H.VIEW_END_* (the scalar header grew to 160 bytes); 11: free blocks carry FreeBlock.TAG_VALUE. */
export const HEAP_VERSION = 22;
/** Word indexes (×4 = byte offset from heapBase) of the header's scalar fields. */
export const enum H {
  MAGIC = 0,
  VERSION = 1,
  HEADER_BYTES = 2,
  MODE = 3,
  POOL_SHIFT = 4,
  ARENA_SHIFT = 5,
  MAX_BYTES = 6,
  HEAP_BASE = 7,
  HEAP_START = 8, // first chunk
  TOP = 9, // top chunk: everything from here to END is untouched
  PEAK_TOP = 10,
  LOCK = 11, // the heap's mutex (threads: true), see threads/lock.ts
  SERIAL = 12, // debug allocation counter
  FL_BITMAP = 13,
  USABLE_ARENAS = 14,
  NARENAS_CURRENT = 15,
  NARENAS_ALLOCATED = 16,
  NARENAS_RECLAIMED = 17,
  NARENAS_HIGHWATER = 18,
  SL_BITMAPS = 19, // byte offsets of the tables below, from heapBase
  FREE_HEADS = 20,
  THREAD_SLOTS = 21, // byte offset of thread slot 0 (Slot.BYTES each), then the header's usedpools arrays (Layout.usedInline)
  NFP2LASTA = 22,
  POOL_MAP = 23, // byte offset of the pool map's low part: one bit per pool-sized slot below 2^POOL_MAP_LOW_SHIFT
  POOL_MAP_BYTES = 24, // bytes of that low part (in the header)
  FLAGS = 25, // HeapFlag bits
  QUARANTINE = 26, // the debug hooks' quarantine ring
  MAX_THREADS = 27, // thread slots for threads (threads: true; 0 otherwise); slot MAX_THREADS holds orphans
  ALIGN_SHIFT = 28, // small blocks are aligned to 2^ALIGN_SHIFT bytes (Size.MIN_ALIGNMENT_SHIFT or Size.ALIGNMENT_SHIFT)
  SAMPLES = 29, // sampled sites (createHeap's sampleInterval): the sampling state's address, 0: off (debug/sampling.ts)
  SUBPOOLS = 30, // byte offset of the sub-pool table (SubPool)
  POOL_MAP_HIGH = 31, // absolute address of the pool map's high part (a raw chunk), 0 until an arena lies past the low part
  POOL_MAP_HIGH_BYTES = 32, // bytes of the high part: the slots from 2^POOL_MAP_LOW_SHIFT to the growth limit
  // The views' check (memory/memory.ts, MemoryViews): the memory's byte length L, as the last
  // element index of a view of 1, 2, 4 and 8-byte elements over all of it (L / size - 1). A
  // handle's view of that width is current exactly when that element exists in it. Written by
  // every handle that takes new views (only ever raised: the memory never shrinks).
  VIEW_END_1 = 33,
  VIEW_END_2 = 34,
  VIEW_END_4 = 35,
  VIEW_END_8 = 36,
  RAW_CACHE = 37, // byte offset of the raw cache's table (RawCache), from heapBase
  // The heap's own end: the memory's length when the heap last grew it (or was made), at most
  // H.MAX_BYTES (so the top's one test against END keeps it under maxBytes too). Pages past
  // it that the memory has are not the heap's: a WebAssembly module sharing the memory grew them
  // for itself (its own memory.grow). The top never carves past END; the growth that passes it
  // first puts a fence (Chunk.FENCE_MAGIC) over such pages (raw/top.ts extend()).
  END = 38,
  FENCED = 39, // bytes in fences (stats().fencedBytes), raised by each fence put up
  // The lock's heartbeat (threads/lock.ts): a holder whose work under the lock is long (a walk
  // of a large heap: check(), stats(), snapshot(); a long raw copy: BEAT_BYTES) adds to it as it
  // goes, so that a waiter does not take a live holder for a dead one.
  LOCK_BEAT = 40,
  // The lock's last holder (threads/lock.ts): its thread id + 1, written as it takes the lock
  // (a plain store). adoptThread() of a thread that died holding it takes the lock over.
  LOCK_OWNER = 41,
  // The heap's identity: a random non-zero word written when it is made (createHeap) and when a
  // restored copy is attached, never else. It tells this heap's memory from another of the same
  // shape (a typed view over another Worker's or another heap's SharedArrayBuffer: heap/typed.ts
  // viewOffset), and a handle's heap from one made anew over its memory (check()).
  IDENTITY = 42,
}
/** Bits of the header's FLAGS word. */
export const enum HeapFlag {
  /** Several threads use the heap: every call takes the heap's lock. */
  THREADS = 1,
  /** createHeap's hardened: true: the object allocator checks more on malloc and free (obmalloc/variants.ts, hardened()). */
  HARDENED = 2,
  /** createHeap's subPools: false: every size class takes whole pools from its first block (no SubPool stage). */
  WHOLE_POOLS = 4,
  /**
   * createHeap's sampleInterval: the heap has a sampling state (H.SAMPLES). Set with that word, never
   * cleared: a stray 0 over H.SAMPLES made the next handle take the sampler's blocks for users'.
   */
  SAMPLED = 8,
  /**
   * The heap's ALIGN_SHIFT is Size.MIN_ALIGNMENT_SHIFT (8-byte alignment): a second record of that
   * word where the young limits are none (subPools: false), whose flip passed attachHeap.
   */
  MIN_ALIGNMENT = 16,
}
export const HEADER_SCALAR_BYTES = 176;

/** Allocator modes as stored in the header. */
export const MODE_IDS = Object.freeze({ pymalloc: 1, malloc: 2, debug: 3, pymalloc_debug: 4, malloc_debug: 5 } as const);

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------
export const WASM_PAGE = 65536;
export const DEFAULT_INITIAL_BYTES = 1 << 20;
// A memory grows by what the top needs, at least 1 / GROWTH_DIVISOR of its length (memory/memory.ts
// grow()), and a WebAssembly.Memory by 1 / WASM_GROWTH_DIVISOR: its length is what a wasm program's
// memory is measured by (a C malloc's sbrk grows it by what it asks), and it never shrinks: an
// eighth left C programs' memories 1.02-1.13x dlmalloc's with their peaks below it (session 53).
// The other kinds keep an eighth: a growth costs ~57,000 instructions, and 1/64 gave a fresh
// heap's replay of imports (36 MB in 1.9 M events) 147 growths instead of ~30, ~3.6 an event.
export const GROWTH_DIVISOR = 8;
export const WASM_GROWTH_DIVISOR = 64;
/** A Worker's WebAssembly instance's C stack (instantiateWithHeap's stackBytes): wasm-ld's default stack size. */
export const DEFAULT_STACK_BYTES = 65536;
export const DEFAULT_MAX_BYTES = 2 ** 32 - WASM_PAGE;

/**
 * Work under a threads heap's lock that can outlast a waiter's patience (a raw realloc that moves
 * hundreds of MiB onto fresh pages: 500 MiB took 2.5 s) goes in steps of this many bytes, the
 * lock's heartbeat (H.LOCK_BEAT) beaten after each, so that waiters see a live holder.
 */
export const BEAT_BYTES = 1 << 24;

// ---------------------------------------------------------------------------------------------
// Debug hooks (CPython's values)
// ---------------------------------------------------------------------------------------------
export const CLEAN_BYTE = 0xcd; // new memory
export const DEAD_BYTE = 0xdd; // freed memory
export const FORBIDDEN_BYTE = 0xfd; // pads around a block

/**
 * Debug block, around the user pointer p (base = p - Debug.HEADER, a block of the allocator below):
 *   [base +  0] requested size      [base +  4] serial number
 *   [base +  8] allocation site id  [base + 12] free site id (0 while live)
 *   [base + 16] family id byte ('r', 'm', 'o'; | FREED_BIT once freed)
 *   [base + 17 .. base + 31] forbidden bytes (leading pad)
 *   [p .. p + size) user bytes; [p + size .. end of the block below) forbidden bytes (trailing pad)
 */
export const enum Debug {
  SIZE = 0,
  SERIAL = 4,
  ALLOC_SITE = 8,
  FREE_SITE = 12, // while the block is live: SIZE ^ SIZE_CHECK (a size word written over is seen); once freed, the free site
  FAMILY = 16,
  LEAD_PAD = 17,
  HEADER = 32,
  /** Trailing pad bytes at least (more when the block below has slack). */
  MIN_TAIL = 8,
  FREED_BIT = 0x80,
  SIZE_CHECK = 0x2d5e0000,
  /**
   * Quarantine ring header (words), then one entry per block: its base, the usable bytes of the
   * block below as checked when it was freed (read back when it leaves, with no call into the
   * allocator), and a check word, base ^ usable ^ the block's serial ^ Q_ENTRY_KEY (entryCheck in
   * debug/quarantine.ts; HEAP_VERSION 21): the eviction trusts an entry whose check word agrees
   * (one compare, where the allocator's look-up of the block was ~100 instructions an event), and
   * refuses one whose base, usable or check word a stray write changed, or whose block left
   * (released below, its serial word a free-list tag; taken again, a new serial).
   */
  Q_CAPACITY = 0,
  Q_HEAD = 4,
  Q_COUNT = 8,
  Q_BYTES = 12,
  Q_MAX_BYTES = 16,
  Q_ENTRIES = 32,
  Q_ENTRY = 12,
  Q_ENTRY_USABLE = 4,
  Q_ENTRY_CHECK = 8,
  Q_ENTRY_KEY = 0x5a3c96e1,
}
/**
 * Sampled sites (debug/sampling.ts, debug/sampler.ts). The sampling state, made with the heap: the current sample
 * table's address, the mean interval, then a bitmap with one bit per MAP_SHIFT-sized region of
 * the address space, set where a sampled block starts (a free tests one bit). The sample table:
 * a header, then open-addressed entries of four words: the block's address (0: empty,
 * TOMBSTONE: removed), its requested size, its site word, and its family byte with the
 * recording handle's tag above it.
 */
export const enum Sample {
  S_TABLE = 0,
  S_INTERVAL = 4,
  S_MAGIC = 8, // S_MAGIC_VALUE ^ the state's address: H.SAMPLES a stray write moved onto a user's block is refused
  S_TABLES = 12, // sample tables held: the current one and (threads) those it replaced; a stray 0 over S_TABLE is named
  S_MAP = 16,
  S_MAGIC_VALUE = 0x53414d50, // "SAMP"
  MAP_SHIFT = 14,
  SHIFT = 0, // 32 - log2(capacity): the hash's shift
  LIVE = 4, // entries in use
  USED = 8, // entries in use or removed (tombstones)
  PREV = 12, // threads: the table this one replaced (kept: a lock-free lookup may read it)
  HEADER = 16,
  ENTRY = 16,
  E_SIZE = 4,
  E_SITE = 8,
  E_FAMILY = 12,
  TOMBSTONE = 1,
  MIN_CAPACITY = 256,
}
/** Go's and jemalloc's default: one sampled allocation per 512 KiB on average. */
export const DEFAULT_SAMPLE_INTERVAL = 512 * 1024;
/** The largest interval (the countdown stays a small integer). */
export const MAX_SAMPLE_INTERVAL = 1 << 29;

export const DEFAULT_QUARANTINE_BLOCKS = 1024;
/**
 * Stack frames a traced debug site keeps below pymalloc's own (HeapOptions.traceAllocations:
 * true). A capture's cost grows with the frames it keeps: new Error() with Error.stackTraceLimit
 * 4, 6 and 10 took 3.0, 3.9 and 6.0 us in Node 20 on the project's VM (0.6 us with none), and a
 * traced block takes two (its allocation and, quarantined, its free): most of a traced debug
 * heap's time. Leak listings name a site by its first three frames.
 */
export const DEFAULT_TRACE_FRAMES = 4;
/** The most frames traceAllocations may ask for. */
export const MAX_TRACE_FRAMES = 64;
/**
 * pymalloc's own frames a capture sees before a JS caller's, added to the frames asked for: at
 * most the hook that captures, realloc's (DebugState.realloc), the family method and a wrapper of
 * the family's (the typed views' mallocAs, callocAs, reallocAs, asMemPool's methods). A capture
 * with fewer has frames to spare, which the site does not keep. (2 before 2026-12-06: with
 * traceAllocations: 1, a realloc's site was none.)
 */
export const OWN_TRACE_FRAMES = 4; // report.ts's isOwnFrame drops them from a site
/**
 * ... and before C code's, more: a wasm import's trampoline (C importing its malloc), a linked
 * module's malloc (compat/wasm-imports.ts trampolines set DebugState.fromWasm to this around the
 * call). A site keeps the first frames asked for that are not pymalloc's (debug/sites.ts;
 * report.ts's isOwnFrame tells them by file and name), so C code's sites are as deep as JS code's.
 */
export const WASM_TRACE_FRAMES = 2;
export const DEFAULT_QUARANTINE_BYTES = 1 << 20;
