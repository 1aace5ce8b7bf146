# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The online indexes' compiled core: time-sorted series whose filing and window reads cost
O(log n) in the series' length (`triage.stores.online_index.IndexedStore` is built on it).

A `Series` (one (index, key)) holds its entries — time (int64 ns), id code (int32) and value
(float64, only once a non-zero value is stored) — in blocks of at most 256 entries, sorted by
time across blocks. Each block keeps its count and the sum of its values (re-added from its
entries on every change, so no rounding accumulates), and a segment tree over the blocks
holds the count and sum of every range of blocks (each node re-added from its two children:
again no drift). So:

- filing an entry: two binary searches (the block by its last time, then within it) and a
  move of at most 256 entries; a full block splits in two (the tree is rebuilt then, O(blocks),
  once per ~128 filings in that block); an entry filed after the last one starts a new block
  when the last is full (appends never split);
- a window [lower, upper): two such searches, the partial blocks at both ends summed entry by
  entry and the blocks between read from the tree — count, sum, and the latest time before
  `upper` (the entry just before its position).

Sums are of the same values as the offline pipeline's (`features.windows`), in another order
(blocks, then the tree, instead of one prefix-sum difference): equal to float tolerance,
counts and times exactly.

An `Index` is one declared index: its series by key, and where each entry id is filed
(an int64 time and an int32 series number per id code, with a small dict for an id filed
under a second key of the index — the `distinct` indexes).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, memcpy, memmove, memset


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL

import numpy as np
import pandas as pd

from features.online import Window

__all__ = ["Series", "StrTable", "Records", "Index", "Plan", "windows", "NONE"]

cdef enum:
    CAP = 256  # entries per block at most
    FILL = 192  # entries per block when built in bulk (room for later inserts)

cdef int64_t ABSENT = -9223372036854775807 - 1  # int64 min: "no entry" in the location arrays
NONE = Window(0, 0.0, None)


cdef struct Block:
    int32_t n
    int32_t cap
    int64_t* t  # one allocation: times [cap], then values [cap] (when summed), then codes [cap]
    double* v  # NULL while the series is count-only
    int32_t* c
    double sum


cdef int blk_alloc(Block* b, int32_t cap, bint summed) except -1:
    cdef size_t per = 12 + (8 if summed else 0)
    cdef char* mem = <char*> malloc(per * cap)
    if mem == NULL:
        raise MemoryError()
    b.t = <int64_t*> mem
    b.v = <double*> (mem + 8 * cap) if summed else NULL
    b.c = <int32_t*> (mem + (16 if summed else 8) * cap)
    b.cap = cap
    return 0


cdef int blk_resize(Block* b, int32_t cap, bint summed) except -1:
    """Re-allocate block `b` for `cap` entries (values zero-filled when newly summed)."""
    cdef int64_t* ot = b.t
    cdef double* ov = b.v
    cdef int32_t* oc = b.c
    cdef int32_t n = b.n
    blk_alloc(b, cap, summed)
    if n:
        memcpy(b.t, ot, 8 * n)
        memcpy(b.c, oc, 4 * n)
        if summed:
            if ov != NULL:
                memcpy(b.v, ov, 8 * n)
            else:
                memset(b.v, 0, 8 * n)
    free(ot)
    return 0


cdef inline void blk_resum(Block* b) noexcept nogil:
    cdef double s = 0.0
    cdef int32_t i
    if b.v != NULL:
        for i in range(b.n):
            s += b.v[i]
    b.sum = s


cdef inline int32_t blk_left(Block* b, int64_t x) noexcept nogil:
    """First position in b with time >= x."""
    cdef int32_t lo = 0, hi = b.n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if b.t[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline int32_t blk_right(Block* b, int64_t x) noexcept nogil:
    """First position in b with time > x."""
    cdef int32_t lo = 0, hi = b.n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if b.t[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef class Series:
    """One (index, key): entries sorted by time in blocks, with a segment tree over the blocks."""

    cdef Block* b
    cdef int32_t nb, capb
    cdef public int64_t n
    cdef bint summed
    # segment tree over blocks: leaves at [P, P + nb); `dirty`: rebuilt at the next read that needs it
    cdef int64_t* tc
    cdef double* ts
    cdef int32_t P
    cdef bint dirty

    def __cinit__(self):
        self.b = NULL
        self.nb = self.capb = 0
        self.n = 0
        self.summed = False
        self.tc = NULL
        self.ts = NULL
        self.P = 0
        self.dirty = True

    def __dealloc__(self):
        cdef int32_t i
        if self.b != NULL:
            for i in range(self.nb):
                free(self.b[i].t)
            free(self.b)
        free(self.tc)
        free(self.ts)

    def __len__(self):
        return self.n

    # -- structure ---------------------------------------------------------------------------
    cdef int _make_summed(self) except -1:
        cdef int32_t i
        for i in range(self.nb):
            blk_resize(&self.b[i], self.b[i].cap, True)
            self.b[i].sum = 0.0
        self.summed = True
        self.dirty = True
        return 0

    cdef int _insert_block(self, int32_t at, int32_t cap) except -1:
        """A new empty block at position `at` (the blocks from `at` on move up one)."""
        cdef Block* nbks
        cdef int32_t newcap
        if self.nb == self.capb:
            newcap = self.capb * 2 if self.capb else 1
            nbks = <Block*> realloc(self.b, sizeof(Block) * newcap)
            if nbks == NULL:
                raise MemoryError()
            self.b = nbks
            self.capb = newcap
        if at < self.nb:
            memmove(&self.b[at + 1], &self.b[at], sizeof(Block) * (self.nb - at))
        self.b[at].n = 0
        self.b[at].t = NULL
        self.b[at].sum = 0.0
        blk_alloc(&self.b[at], cap, self.summed)
        self.nb += 1
        self.dirty = True
        return 0

    cdef void _delete_block(self, int32_t at) noexcept:
        free(self.b[at].t)
        if at + 1 < self.nb:
            memmove(&self.b[at], &self.b[at + 1], sizeof(Block) * (self.nb - at - 1))
        self.nb -= 1
        self.dirty = True

    cdef int _rebuild_tree(self) noexcept:
        """The tree from the blocks (-1: no memory for it; the reads then add the blocks up)."""
        cdef int32_t P = 1, i
        while P < self.nb:
            P <<= 1
        if P != self.P or self.tc == NULL:
            free(self.tc)
            free(self.ts)
            self.tc = <int64_t*> malloc(sizeof(int64_t) * 2 * P)
            self.ts = <double*> malloc(sizeof(double) * 2 * P)
            if self.tc == NULL or self.ts == NULL:
                free(self.tc)
                free(self.ts)
                self.tc = NULL
                self.ts = NULL
                self.P = 0
                return -1
            self.P = P
        for i in range(P):
            if i < self.nb:
                self.tc[P + i] = self.b[i].n
                self.ts[P + i] = self.b[i].sum
            else:
                self.tc[P + i] = 0
                self.ts[P + i] = 0.0
        i = P - 1
        while i >= 1:
            self.tc[i] = self.tc[2 * i] + self.tc[2 * i + 1]
            self.ts[i] = self.ts[2 * i] + self.ts[2 * i + 1]
            i -= 1
        self.dirty = False
        return 0

    cdef inline void _touch(self, int32_t k) noexcept:
        """Block k changed (count or sum): its sum re-added, the tree path updated."""
        cdef int32_t i
        blk_resum(&self.b[k])
        if self.dirty or self.tc == NULL:
            self.dirty = True
            return
        i = self.P + k
        self.tc[i] = self.b[k].n
        self.ts[i] = self.b[k].sum
        i >>= 1
        while i >= 1:
            self.tc[i] = self.tc[2 * i] + self.tc[2 * i + 1]
            self.ts[i] = self.ts[2 * i] + self.ts[2 * i + 1]
            i >>= 1

    # -- searches ------------------------------------------------------------------------------
    cdef inline int32_t _block_left(self, int64_t x) noexcept:
        """First block whose last time >= x (nb: none)."""
        cdef int32_t lo = 0, hi = self.nb, mid
        cdef Block* bk
        while lo < hi:
            mid = (lo + hi) >> 1
            bk = &self.b[mid]
            if bk.t[bk.n - 1] < x:
                lo = mid + 1
            else:
                hi = mid
        return lo

    cdef inline int32_t _block_right(self, int64_t x) noexcept:
        """First block whose last time > x (nb: none)."""
        cdef int32_t lo = 0, hi = self.nb, mid
        cdef Block* bk
        while lo < hi:
            mid = (lo + hi) >> 1
            bk = &self.b[mid]
            if bk.t[bk.n - 1] <= x:
                lo = mid + 1
            else:
                hi = mid
        return lo

    cdef inline void _left(self, int64_t x, int32_t* k, int32_t* i) noexcept:
        """The position (block, offset) of the first entry with time >= x ((nb, 0): the end)."""
        k[0] = self._block_left(x)
        i[0] = 0 if k[0] == self.nb else blk_left(&self.b[k[0]], x)

    # -- changes -------------------------------------------------------------------------------
    cpdef insert(self, int64_t t, int32_t code, double value):
        """File an entry at its time (after the entries of an equal time)."""
        cdef int32_t k, i, half
        cdef Block* bk
        cdef Block* nx
        if value != 0.0 and not self.summed:
            self._make_summed()
        if self.nb == 0:
            self._insert_block(0, 1)
            k = i = 0
        elif self.b[self.nb - 1].t[self.b[self.nb - 1].n - 1] <= t:  # after every entry: the usual case
            k = self.nb - 1
            if self.b[k].n == CAP:  # the last block is full: a new one (appends never split)
                self._insert_block(self.nb, 16)
                k = self.nb - 1
            i = self.b[k].n
        else:
            k = self._block_right(t)
            i = blk_right(&self.b[k], t)
            if self.b[k].n == CAP:  # split the full block in two halves
                self._insert_block(k + 1, CAP)
                bk = &self.b[k]
                nx = &self.b[k + 1]
                half = CAP // 2
                memcpy(nx.t, bk.t + half, 8 * (CAP - half))
                memcpy(nx.c, bk.c + half, 4 * (CAP - half))
                if self.summed:
                    memcpy(nx.v, bk.v + half, 8 * (CAP - half))
                nx.n = CAP - half
                bk.n = half
                blk_resum(bk)
                blk_resum(nx)
                if i > half:
                    k += 1
                    i -= half
        bk = &self.b[k]
        if bk.n == bk.cap:
            blk_resize(bk, min(CAP, 2 * bk.cap), self.summed)
        if i < bk.n:
            memmove(bk.t + i + 1, bk.t + i, 8 * (bk.n - i))
            memmove(bk.c + i + 1, bk.c + i, 4 * (bk.n - i))
            if self.summed:
                memmove(bk.v + i + 1, bk.v + i, 8 * (bk.n - i))
        bk.t[i] = t
        bk.c[i] = code
        if self.summed:
            bk.v[i] = value
        bk.n += 1
        self.n += 1
        self._touch(k)

    cdef int _find(self, int64_t t, int32_t code, int32_t* k, int32_t* i) noexcept:
        """The position of the entry (t, code): 0, or -1 when there is none."""
        cdef int32_t kk, ii
        self._left(t, &kk, &ii)
        while kk < self.nb:
            if ii == self.b[kk].n:
                kk += 1
                ii = 0
                continue
            if self.b[kk].t[ii] != t:
                return -1
            if self.b[kk].c[ii] == code:
                k[0] = kk
                i[0] = ii
                return 0
            ii += 1
        return -1

    cpdef double remove(self, int64_t t, int32_t code) except? -1.0:
        """Take the entry (t, code) out; its value (KeyError when it is not there)."""
        cdef int32_t k = 0, i = 0
        cdef Block* bk
        cdef double value = 0.0
        if self.nb and self.b[self.nb - 1].t[self.b[self.nb - 1].n - 1] == t \
                and self.b[self.nb - 1].c[self.b[self.nb - 1].n - 1] == code:
            k = self.nb - 1  # the last one (undoing an append)
            i = self.b[k].n - 1
        elif self._find(t, code, &k, &i) != 0:
            raise KeyError(code)
        bk = &self.b[k]
        if self.summed:
            value = bk.v[i]
        if i + 1 < bk.n:
            memmove(bk.t + i, bk.t + i + 1, 8 * (bk.n - i - 1))
            memmove(bk.c + i, bk.c + i + 1, 4 * (bk.n - i - 1))
            if self.summed:
                memmove(bk.v + i, bk.v + i + 1, 8 * (bk.n - i - 1))
        bk.n -= 1
        self.n -= 1
        if bk.n == 0:
            self._delete_block(k)
        else:
            self._touch(k)
        return value

    cdef bint has(self, int64_t t, int32_t code) noexcept:
        cdef int32_t k = 0, i = 0
        return self._find(t, code, &k, &i) == 0

    def arrays(self):
        """(times, codes, values) as numpy arrays, in time order (values: None when count-only)."""
        cdef int64_t[::1] t = np.empty(self.n, dtype=np.int64)
        cdef int32_t[::1] c = np.empty(self.n, dtype=np.int32)
        cdef double[::1] v = np.zeros(self.n if self.summed else 0, dtype=np.float64)
        cdef int64_t j = 0
        cdef int32_t k, i
        for k in range(self.nb):
            for i in range(self.b[k].n):
                t[j] = self.b[k].t[i]
                c[j] = self.b[k].c[i]
                if self.summed:
                    v[j] = self.b[k].v[i]
                j += 1
        return np.asarray(t), np.asarray(c), (np.asarray(v) if self.summed else None)

    def bulk(self, times, codes, values):
        """Add many entries at once (merged with what is there, re-sorted by time; at equal
        times, the entries already there first, then the new ones in the order given)."""
        times = np.asarray(times, dtype=np.int64)
        codes = np.asarray(codes, dtype=np.int32)
        values = np.asarray(values, dtype=np.float64)
        if self.n:
            ot, oc, ov = self.arrays()
            times = np.concatenate([ot, times])
            codes = np.concatenate([oc, codes])
            values = np.concatenate([ov if ov is not None else np.zeros(len(ot)), values])
        order = np.argsort(times, kind="stable")
        self._load(np.ascontiguousarray(times[order]), np.ascontiguousarray(codes[order]),
                   np.ascontiguousarray(values[order]))

    cdef int _load(self, int64_t[::1] t, int32_t[::1] c, double[::1] v) except -1:
        cdef int32_t k, i, m
        cdef int64_t n = t.shape[0], j = 0
        cdef bint summed = False
        for j in range(n):
            if v[j] != 0.0:
                summed = True
                break
        for k in range(self.nb):
            free(self.b[k].t)
        self.nb = 0
        self.n = 0
        self.summed = summed
        j = 0
        while j < n:
            m = <int32_t> min(<int64_t> FILL, n - j)
            self._insert_block(self.nb, m)
            k = self.nb - 1
            for i in range(m):
                self.b[k].t[i] = t[j + i]
                self.b[k].c[i] = c[j + i]
                if summed:
                    self.b[k].v[i] = v[j + i]
            self.b[k].n = m
            blk_resum(&self.b[k])
            j += m
        self.n = n
        self.dirty = True
        return 0

    # -- reads ---------------------------------------------------------------------------------
    cdef void stats(self, bint has_lower, int64_t lower, int64_t upper,
                    int64_t* count, double* total, int64_t* last, bint* has_last) noexcept:
        """Count and sum of the entries in [lower, upper) (no lower: from the start), and the
        time of the latest entry before `upper`."""
        cdef int32_t kh, ih, kl = 0, il = 0, k
        cdef int64_t cnt = 0
        cdef double s = 0.0
        cdef Block* bk
        count[0] = 0
        total[0] = 0.0
        has_last[0] = False
        if self.nb == 0:
            return
        self._left(upper, &kh, &ih)
        if kh == 0 and ih == 0:
            return
        has_last[0] = True
        if ih > 0:
            last[0] = self.b[kh].t[ih - 1]
        else:
            bk = &self.b[kh - 1]
            last[0] = bk.t[bk.n - 1]
        if has_lower:
            self._left(lower, &kl, &il)
            if kl > kh or (kl == kh and il >= ih):
                return
        if kl == kh:
            cnt = ih - il
            if self.summed:
                bk = &self.b[kl]
                for k in range(il, ih):
                    s += bk.v[k]
        else:
            bk = &self.b[kl]
            cnt = bk.n - il
            if self.summed:
                for k in range(il, bk.n):
                    s += bk.v[k]
            if kh - kl - 1 > 0:
                self._range(kl + 1, kh, &cnt, &s)
            if kh < self.nb and ih > 0:
                cnt += ih
                if self.summed:
                    bk = &self.b[kh]
                    for k in range(ih):
                        s += bk.v[k]
        count[0] = cnt
        total[0] = s

    cdef void _range(self, int32_t l, int32_t r, int64_t* cnt, double* s) noexcept:
        """Add the count and sum of blocks [l, r) to *cnt, *s."""
        cdef int32_t k
        cdef int64_t c = 0
        cdef double x = 0.0
        if (self.dirty or self.tc == NULL) and r - l > 8:
            self._rebuild_tree()
        if r - l <= 8 or self.dirty:
            for k in range(l, r):
                c += self.b[k].n
                x += self.b[k].sum
        else:
            l += self.P
            r += self.P
            while l < r:
                if l & 1:
                    c += self.tc[l]
                    x += self.ts[l]
                    l += 1
                if r & 1:
                    r -= 1
                    c += self.tc[r]
                    x += self.ts[r]
                l >>= 1
                r >>= 1
        cnt[0] += c
        s[0] += x

    def window(self, lower, int64_t upper):
        cdef int64_t count, last = 0
        cdef double total
        cdef bint has_last
        self.stats(lower is not None, 0 if lower is None else <int64_t> lower, upper,
                   &count, &total, &last, &has_last)
        if not has_last:
            return NONE
        return Window(count, total, last)

    def nbytes(self):
        """Bytes held by the entries (block buffers, the block table and the tree)."""
        cdef int64_t total = sizeof(Block) * self.capb + (16 * 2 * self.P if self.tc != NULL else 0)
        cdef int32_t k
        for k in range(self.nb):
            total += self.b[k].cap * (20 if self.summed else 12)
        return total


# ----------------------------------------------------------------------------------- StrTable

cdef inline uint64_t fnv1a(const char* p, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h = 1469598103934665603ULL
    cdef Py_ssize_t i
    for i in range(n):
        h ^= <uint8_t> p[i]
        h *= 1099511628211ULL
    return h ^ (h >> 29)


cdef class StrTable:
    """Strings coded 0, 1, 2, … in the order first seen: an open-addressing hash table over
    one byte arena (no Python object per string; ~24 B a string besides its UTF-8 bytes)."""

    cdef int32_t* slots  # code + 1 per slot (0: empty)
    cdef int64_t nslots
    cdef uint64_t* hv  # hash of each code's string
    cdef int64_t* off  # [n + 1]: code c's bytes are arena[off[c]:off[c + 1]]
    cdef char* arena
    cdef int64_t arena_cap
    cdef public int32_t n
    cdef int32_t cap

    def __cinit__(self):
        self.nslots = 1024
        self.slots = <int32_t*> calloc(self.nslots, sizeof(int32_t))
        self.cap = 512
        self.hv = <uint64_t*> malloc(sizeof(uint64_t) * self.cap)
        self.off = <int64_t*> malloc(sizeof(int64_t) * (self.cap + 1))
        self.arena_cap = 8192
        self.arena = <char*> malloc(self.arena_cap)
        if self.slots == NULL or self.hv == NULL or self.off == NULL or self.arena == NULL:
            raise MemoryError()
        self.off[0] = 0
        self.n = 0

    def __dealloc__(self):
        free(self.slots)
        free(self.hv)
        free(self.off)
        free(self.arena)

    def __len__(self):
        return self.n

    cdef int _rehash(self) except -1:
        cdef int64_t ns = self.nslots * 2, j
        cdef int32_t* s = <int32_t*> calloc(ns, sizeof(int32_t))
        cdef int32_t c
        if s == NULL:
            raise MemoryError()
        for c in range(self.n):
            j = <int64_t> (self.hv[c] & <uint64_t> (ns - 1))
            while s[j] != 0:
                j = (j + 1) & (ns - 1)
            s[j] = c + 1
        free(self.slots)
        self.slots, self.nslots = s, ns
        return 0

    cdef int32_t find(self, const char* p, Py_ssize_t m, bint add) except -2:
        """The code of bytes p[:m]; -1 when absent and not `add`."""
        cdef uint64_t h = fnv1a(p, m)
        cdef int64_t j = <int64_t> (h & <uint64_t> (self.nslots - 1)), need
        cdef int32_t c
        cdef void* q
        while True:
            c = self.slots[j] - 1
            if c < 0:
                break
            if self.hv[c] == h and self.off[c + 1] - self.off[c] == m and memcmp(self.arena + self.off[c], p, m) == 0:
                return c
            j = (j + 1) & (self.nslots - 1)
        if not add:
            return -1
        if self.n == self.cap:
            q = realloc(self.hv, sizeof(uint64_t) * 2 * self.cap)
            if q == NULL:
                raise MemoryError()
            self.hv = <uint64_t*> q
            q = realloc(self.off, sizeof(int64_t) * (2 * self.cap + 1))
            if q == NULL:
                raise MemoryError()
            self.off = <int64_t*> q
            self.cap *= 2
        need = self.off[self.n] + m
        if need > self.arena_cap:
            while need > self.arena_cap:
                self.arena_cap *= 2
            q = realloc(self.arena, self.arena_cap)
            if q == NULL:
                raise MemoryError()
            self.arena = <char*> q
        c = self.n
        memcpy(self.arena + self.off[c], p, m)
        self.off[c + 1] = need
        self.hv[c] = h
        self.slots[j] = c + 1
        self.n += 1
        if 2 * <int64_t> self.n > self.nslots:
            self._rehash()
        return c

    cdef inline int32_t code(self, str s, bint add) except -2:
        cdef Py_ssize_t m
        cdef const char* p = PyUnicode_AsUTF8AndSize(s, &m)
        return self.find(p, m, add)

    def get(self, str s):
        """The code of `s`, or None."""
        cdef int32_t c = self.code(s, False)
        return None if c < 0 else c

    def add(self, str s):
        return self.code(s, True)

    def codes(self, values):
        """The codes of many strings (coded when new), as an int32 array."""
        cdef Py_ssize_t i, n = len(values)
        out = np.empty(n, dtype=np.int32)
        cdef int32_t[::1] o = out
        cdef object v
        for i in range(n):
            v = values[i]
            o[i] = self.code(v if type(v) is str else str(v), True)
        return out

    def string(self, int32_t c):
        if c < 0 or c >= self.n:
            raise IndexError(c)
        return self.arena[self.off[c]:self.off[c + 1]].decode()

    def nbytes(self):
        return self.nslots * 4 + self.cap * 16 + self.arena_cap


cdef class Records:
    """One table's records: bytes by string key, all in one byte arena (offset and length per
    key code of a `StrTable`) — no Python object per record or key. A replaced or removed
    record's bytes stay in the arena as garbage until it is more than half of it: then the
    live records are copied into a fresh arena (amortised O(1) a change)."""

    cdef StrTable kt
    cdef char* arena
    cdef int64_t used, cap, garbage
    cdef int64_t* off
    cdef int32_t* ln  # -1: no record for this key code
    cdef int64_t nk
    cdef public int64_t n

    def __cinit__(self):
        self.kt = StrTable()
        self.cap = 4096
        self.arena = <char*> malloc(self.cap)
        self.used = self.garbage = 0
        self.off = NULL
        self.ln = NULL
        self.nk = 0
        self.n = 0
        if self.arena == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.arena)
        free(self.off)
        free(self.ln)

    def __len__(self):
        return self.n

    cdef int _room_keys(self, int64_t k) except -1:
        cdef int64_t more = max(k + k // 4, 1024), i
        cdef void* a = realloc(self.off, sizeof(int64_t) * more)
        if a == NULL:
            raise MemoryError()
        self.off = <int64_t*> a
        a = realloc(self.ln, sizeof(int32_t) * more)
        if a == NULL:
            raise MemoryError()
        self.ln = <int32_t*> a
        for i in range(self.nk, more):
            self.ln[i] = -1
            self.off[i] = 0
        self.nk = more
        return 0

    cdef int _compact(self, int64_t need) except -1:
        """The live records into a fresh arena with room for `need` more bytes."""
        cdef int64_t live = self.used - self.garbage, cap = 4096, pos = 0, c
        cdef char* a
        while cap < live + need:
            cap *= 2
        a = <char*> malloc(cap)
        if a == NULL:
            raise MemoryError()
        for c in range(self.nk):
            if self.ln[c] >= 0:
                memcpy(a + pos, self.arena + self.off[c], self.ln[c])
                self.off[c] = pos
                pos += self.ln[c]
        free(self.arena)
        self.arena, self.cap, self.used, self.garbage = a, cap, pos, 0
        return 0

    def put(self, str key, bytes value):
        """Keep `value` as `key`'s record (replacing any)."""
        cdef int32_t c = self.kt.code(key, True)
        cdef Py_ssize_t m = len(value)
        cdef int64_t need
        cdef void* q
        if c >= self.nk:
            self._room_keys(c + 1)
        if self.ln[c] >= 0:
            self.garbage += self.ln[c]
            self.ln[c] = -1
            self.n -= 1
        if self.used + m > self.cap:
            if 2 * self.garbage > self.used:
                self._compact(m)
            else:
                need = self.cap
                while self.used + m > need:
                    need *= 2
                q = realloc(self.arena, need)
                if q == NULL:
                    raise MemoryError()
                self.arena, self.cap = <char*> q, need
        memcpy(self.arena + self.used, <const char*> value, m)
        self.off[c] = self.used
        self.ln[c] = <int32_t> m
        self.used += m
        self.n += 1

    def get(self, str key):
        """`key`'s record (a copy of its bytes), or None."""
        cdef int32_t c = self.kt.code(key, False)
        if c < 0 or c >= self.nk or self.ln[c] < 0:
            return None
        return self.arena[self.off[c]:self.off[c] + self.ln[c]]

    def pop(self, str key):
        """Remove `key`'s record (if any)."""
        cdef int32_t c = self.kt.code(key, False)
        if c < 0 or c >= self.nk or self.ln[c] < 0:
            return
        self.garbage += self.ln[c]
        self.ln[c] = -1
        self.n -= 1

    def compact(self):
        """Drop the garbage and the arena's spare room (after a bootstrap: its records stay)."""
        cdef void* q
        self._compact(0)
        q = realloc(self.arena, max(self.used, 16))
        if q != NULL:
            self.arena, self.cap = <char*> q, max(self.used, 16)

    def __getitem__(self, str key):
        b = self.get(key)
        if b is None:
            raise KeyError(key)
        return b

    def __contains__(self, str key):
        return self.get(key) is not None

    def keys(self):
        """The keys holding a record (in the order first put)."""
        cdef int64_t c
        return [self.kt.string(<int32_t> c) for c in range(min(self.nk, <int64_t> self.kt.n)) if self.ln[c] >= 0]

    def __iter__(self):
        return iter(self.keys())

    def items(self):
        return [(k, self.get(k)) for k in self.keys()]

    def data_bytes(self):
        """Bytes of the live records."""
        return self.used - self.garbage

    def nbytes(self):
        """Bytes held: the arena, the offsets and lengths, the key table."""
        return self.cap + self.nk * 12 + self.kt.nbytes()


cdef object _key_text(tuple key):
    """A key tuple as one string (its parts joined by \\x1f): what a key table codes."""
    if len(key) == 1:
        k = key[0]
        return k if type(k) is str else str(k)
    return "\x1f".join([k if type(k) is str else str(k) for k in key])


# -------------------------------------------------------------------------------------- Index

cdef class Index:
    """One declared index: its series by key, and where each entry id is filed.

    Keys are coded by a `StrTable` shared by every index over the same key columns, ids by
    one shared by the indexes of one stream (an order id is one code for all the order
    indexes). Per id code: the time and series of its entry (`at_t`, `at_s`); an id filed
    under a second key of the index (a per-line order under each vendor, a distinct value
    under several keys) is chained in a small pool (`p_s`, `p_t`, `p_next`). All C arrays.

    `by_time`: the entries are identified by (key, time) instead of ids (inventory syncs:
    a sync is its node and time), so no id codes and no locations are kept at all."""

    cdef public StrTable codes, keys
    cdef public list series
    cdef public bint by_time
    cdef int32_t* sno_of  # series number by key code (-1: none)
    cdef int64_t nsno
    cdef int64_t* at_t
    cdef int32_t* at_s
    cdef int32_t* at_more  # first chained location (-1: none)
    cdef int64_t nat
    cdef int32_t* p_s
    cdef int64_t* p_t
    cdef int32_t* p_next
    cdef int32_t np_, p_cap, p_free

    def __cinit__(self, StrTable codes, StrTable keys, bint by_time=False):
        self.codes, self.keys, self.by_time = codes, keys, by_time
        self.series = []
        self.sno_of = NULL
        self.nsno = 0
        self.at_t = NULL
        self.at_s = NULL
        self.at_more = NULL
        self.nat = 0
        self.p_s = NULL
        self.p_t = NULL
        self.p_next = NULL
        self.np_ = self.p_cap = 0
        self.p_free = -1

    def __dealloc__(self):
        free(self.sno_of)
        free(self.at_t)
        free(self.at_s)
        free(self.at_more)
        free(self.p_s)
        free(self.p_t)
        free(self.p_next)

    # -- codes ---------------------------------------------------------------------------
    cdef int _grow_at(self, int64_t n) except -1:
        """Room for id codes < n (an eighth more: the arrays are 12 B per code and index)."""
        cdef int64_t more = max(n + n // 8, 1024), i
        cdef void* a = realloc(self.at_t, sizeof(int64_t) * more)
        if a == NULL:
            raise MemoryError()
        self.at_t = <int64_t*> a
        a = realloc(self.at_s, sizeof(int32_t) * more)
        if a == NULL:
            raise MemoryError()
        self.at_s = <int32_t*> a
        if self.at_more != NULL:
            a = realloc(self.at_more, sizeof(int32_t) * more)
            if a == NULL:
                raise MemoryError()
            self.at_more = <int32_t*> a
        for i in range(self.nat, more):
            self.at_t[i] = ABSENT
            self.at_s[i] = -1
            if self.at_more != NULL:
                self.at_more[i] = -1
        self.nat = more
        return 0

    cdef int _chains(self) except -1:
        """The chain heads, made when an id is first filed under a second key of this index."""
        cdef int64_t i
        if self.at_more == NULL:
            self.at_more = <int32_t*> malloc(sizeof(int32_t) * max(self.nat, 1))
            if self.at_more == NULL:
                raise MemoryError()
            for i in range(self.nat):
                self.at_more[i] = -1
        return 0

    cdef inline int32_t _code(self, str entry_id) except -2:
        cdef int32_t c = self.codes.code(entry_id, True)
        if c >= self.nat:
            self._grow_at(c + 1)
        return c

    cdef int32_t _sno_k(self, int32_t kc) except -2:
        """The series of key code kc (created when new)."""
        cdef int64_t more, i
        cdef void* a
        cdef int32_t s
        if kc >= self.nsno:
            more = max(<int64_t> kc + 1, 2 * self.nsno, 256)
            a = realloc(self.sno_of, sizeof(int32_t) * more)
            if a == NULL:
                raise MemoryError()
            self.sno_of = <int32_t*> a
            for i in range(self.nsno, more):
                self.sno_of[i] = -1
            self.nsno = more
        s = self.sno_of[kc]
        if s < 0:
            s = <int32_t> len(self.series)
            self.series.append(Series())
            self.sno_of[kc] = s
        return s

    cdef inline int32_t _sno_text(self, str text, bint add) except -2:
        cdef int32_t kc = self.keys.code(text, add)
        if kc < 0:
            return -1
        if add:
            return self._sno_k(kc)
        return self.sno_of[kc] if kc < self.nsno else -1

    cdef inline int32_t _sno(self, tuple key, bint add) except -2:
        return self._sno_text(_key_text(key), add)

    # -- locations -----------------------------------------------------------------------
    cdef inline bint _where(self, int32_t s, int32_t code, int64_t* t) noexcept:
        cdef int32_t p
        if code >= self.nat:
            return False
        if self.at_s[code] == s and self.at_t[code] != ABSENT:
            t[0] = self.at_t[code]
            return True
        if self.at_more == NULL:
            return False
        p = self.at_more[code]
        while p >= 0:
            if self.p_s[p] == s:
                t[0] = self.p_t[p]
                return True
            p = self.p_next[p]
        return False

    cdef int _file(self, int32_t s, int32_t code, int64_t t) except -1:
        cdef int32_t p
        cdef void* a
        if self.at_t[code] == ABSENT:
            self.at_t[code] = t
            self.at_s[code] = s
            return 0
        self._chains()
        if self.p_free >= 0:
            p = self.p_free
            self.p_free = self.p_next[p]
        else:
            if self.np_ == self.p_cap:
                self.p_cap = max(64, 2 * self.p_cap)
                a = realloc(self.p_s, sizeof(int32_t) * self.p_cap)
                if a == NULL:
                    raise MemoryError()
                self.p_s = <int32_t*> a
                a = realloc(self.p_t, sizeof(int64_t) * self.p_cap)
                if a == NULL:
                    raise MemoryError()
                self.p_t = <int64_t*> a
                a = realloc(self.p_next, sizeof(int32_t) * self.p_cap)
                if a == NULL:
                    raise MemoryError()
                self.p_next = <int32_t*> a
            p = self.np_
            self.np_ += 1
        self.p_s[p] = s
        self.p_t[p] = t
        self.p_next[p] = self.at_more[code]
        self.at_more[code] = p
        return 0

    cdef bint _take(self, int32_t s, int32_t code, int64_t* t) noexcept:
        """Where `code` is filed in series `s` (its time into *t), unfiled in the same walk of
        the location chain: False when it is not filed there."""
        cdef int32_t p, prev = -1
        if code >= self.nat:
            return False
        if self.at_s[code] == s and self.at_t[code] != ABSENT:
            t[0] = self.at_t[code]
            self.at_t[code] = ABSENT
            self.at_s[code] = -1
            return True
        if self.at_more == NULL:
            return False
        p = self.at_more[code]
        while p >= 0:
            if self.p_s[p] == s:
                t[0] = self.p_t[p]
                if prev < 0:
                    self.at_more[code] = self.p_next[p]
                else:
                    self.p_next[prev] = self.p_next[p]
                self.p_next[p] = self.p_free
                self.p_free = p
                return True
            prev = p
            p = self.p_next[p]
        return False

    # -- changes (journal: a list to append (self, undo) to, or None) ----------------------
    cdef int _put(self, int32_t s, int32_t code, int64_t t, double value, list journal) except -1:
        cdef Series series = <Series> self.series[s]
        cdef int64_t old = 0
        cdef double old_v = 0.0
        cdef bint had
        if self.by_time:
            had = series.has(t, 0)
            if had:
                old_v = series.remove(t, 0)
            series.insert(t, 0, value)
            if journal is not None:
                journal.append((self, (s, -1, t if had else None, old_v, t)))
            return 0
        if code >= self.nat:
            self._grow_at(code + 1)
        had = self._take(s, code, &old)
        if had:
            old_v = series.remove(old, code)
        series.insert(t, code, value)
        self._file(s, code, t)
        if journal is not None:
            journal.append((self, (s, code, old if had else None, old_v, 0)))
        return 0

    cdef int _drop(self, int32_t s, int32_t code, list journal) except -1:
        cdef int64_t old = 0
        cdef double old_v
        if not self._take(s, code, &old):
            return 0
        old_v = (<Series> self.series[s]).remove(old, code)
        if journal is not None:
            journal.append((self, (s, code, old, old_v, 0)))
        return 0

    cdef int _drop_all(self, int32_t code, list journal) except -1:
        """Take every entry of id `code` out of this index (a re-filing starts so)."""
        if code >= self.nat:
            return 0
        while self.at_more != NULL and self.at_more[code] >= 0:
            self._drop(self.p_s[self.at_more[code]], code, journal)
        if self.at_t[code] != ABSENT:
            self._drop(self.at_s[code], code, journal)
        return 0

    def undo(self, tuple change):
        """Put back what one journalled change replaced (see `put`)."""
        cdef int32_t s = change[0], code = change[1]
        cdef object old = change[2]
        cdef double value = change[3]
        cdef Series series = <Series> self.series[s]
        cdef int64_t now = 0
        if code < 0:  # by time: the entry at change[4] was filed; `old` set: it replaced one
            series.remove(<int64_t> change[4], 0)
            if old is not None:
                series.insert(<int64_t> old, 0, value)
            return
        if self._take(s, code, &now):
            series.remove(now, code)
        if old is not None:
            series.insert(<int64_t> old, code, value)
            self._file(s, code, <int64_t> old)

    # -- the generic API (tuple keys, str ids) --------------------------------------------
    def put(self, tuple key, str entry_id, int64_t t, double value, list journal=None):
        """File `entry_id` under `key` at `t` (replacing its entry there); each change is
        appended to `journal` (when given) as (index, undo) for `undo`."""
        cdef int32_t s = self._sno(key, True)
        self._put(s, 0 if self.by_time else self._code(entry_id), t, value, journal)

    def drop(self, tuple key, str entry_id, list journal=None):
        """Take `entry_id`'s entry under `key` out (if any)."""
        if self.by_time:
            raise ValueError("entries of a by-time index are replaced, never dropped by id")
        cdef int32_t code = self.codes.code(entry_id, False)
        cdef int32_t s
        if code < 0:
            return
        s = self._sno(key, False)
        if s >= 0:
            self._drop(s, code, journal)

    def get(self, tuple key, str entry_id):
        """The time `entry_id` is filed at under `key` (None: it is not)."""
        cdef int32_t code = self.codes.code(entry_id, False)
        cdef int32_t s
        cdef int64_t t = 0
        if code < 0:
            return None
        s = self._sno(key, False)
        return t if s >= 0 and self._where(s, code, &t) else None

    def window(self, tuple key, lower, int64_t upper):
        cdef int32_t s = self._sno(key, False)
        if s < 0:
            return NONE
        return (<Series> self.series[s]).window(lower, upper)

    def window_columns(self, list keys, lowers, uppers):
        """Many events' windows at once: for event i with key `keys[i]` (None: skipped, zeros)
        and for each of the m lower-bound rows, the count and sum in [lowers[r][i], uppers[i]);
        and the latest entry time before uppers[i] (None: none). Exactly `window` per (r, i)."""
        cdef Py_ssize_t n = len(keys), m = len(lowers), i, r
        cdef list counts = [[0] * n for _ in range(m)]
        cdef list totals = [[0.0] * n for _ in range(m)]
        cdef list last = [None] * n
        cdef list rows = [list(x) for x in lowers]
        cdef list ups = list(uppers)
        cdef object k, low
        cdef int32_t so
        cdef Series ser
        cdef int64_t cnt, lt = 0, up
        cdef double tot
        cdef bint has_last = False
        for i in range(n):
            k = keys[i]
            if k is None:
                continue
            so = self._sno(<tuple> k, False)
            if so < 0:
                continue
            ser = <Series> self.series[so]
            up = ups[i]
            if m == 0:
                ser.stats(False, 0, up, &cnt, &tot, &lt, &has_last)
            for r in range(m):
                low = (<list> rows[r])[i]
                ser.stats(low is not None, 0 if low is None else <int64_t> low, up, &cnt, &tot, &lt, &has_last)
                if not has_last:
                    break
                (<list> counts[r])[i] = cnt
                (<list> totals[r])[i] = tot
            if has_last:
                last[i] = lt
        return counts, totals, last

    def put_columns(self, list key_columns, entry_ids, times_ns, values):
        """Many `put` calls at once (bootstrap): key i is (key_columns[0][i], …), its id
        entry_ids[i] (None for a by-time index). Ids seen for the first time, once each, are
        filed in bulk per series; the others one by one (in key, then time order, as
        `MemoryStore.put_entries`)."""
        cdef Py_ssize_t n = len(times_ns), i
        times = np.asarray(times_ns, dtype=np.int64)
        vals = np.asarray(values, dtype=np.float64)
        if n == 0:
            return
        if len(key_columns) == 1:
            texts = key_columns[0]
        else:
            texts = ["\x1f".join(map(str, parts)) for parts in zip(*key_columns)]
        kcodes = self.keys.codes(texts)
        uk = np.unique(kcodes)
        for i in range(len(uk)):
            self._sno_k(uk[i])
        sno = np.empty(max(self.nsno, 1), dtype=np.int32)
        for i in range(self.nsno):
            sno[i] = self.sno_of[i]
        snos = sno[kcodes].astype(np.int64)
        if self.by_time:  # (key, time) is the entry: the last of equal ones wins
            keep = ~pd.DataFrame({"s": snos, "t": times}).duplicated(keep="last").to_numpy()
            held = np.array([(<Series> self.series[s]).n > 0 for s in range(len(self.series))], dtype=bool)
            slow = np.flatnonzero(keep & held[snos])
            for j in slow:  # a series already holding entries: replaced one by one
                self._put(<int32_t> snos[j], 0, <int64_t> times[j], <double> vals[j], None)
            self._bulk_new(snos, np.zeros(n, dtype=np.int32), times, vals, np.flatnonzero(keep & ~held[snos]), True)
            return
        codes = self.codes.codes(entry_ids)
        if len(codes) and int(codes.max()) >= self.nat:
            self._grow_at(int(codes.max()) + 1)
        at_t = np.asarray(<int64_t[:self.nat]> self.at_t)
        fresh = (at_t[codes] == ABSENT) & ~pd.Series(codes).duplicated(keep=False).to_numpy()
        if self.at_more != NULL:
            fresh &= np.asarray(<int32_t[:self.nat]> self.at_more)[codes] < 0
        slow = np.flatnonzero(~fresh)
        slow = slow[np.lexsort((times[slow], kcodes[slow]))]
        for j in slow:  # already filed in this index, or repeated in the batch: one by one
            self._put(<int32_t> snos[j], <int32_t> codes[j], <int64_t> times[j], <double> vals[j], None)
        self._bulk_new(snos, codes, times, vals, np.flatnonzero(fresh), False)

    def _bulk_new(self, snos, codes, times, vals, ok, bint by_time):
        cdef Py_ssize_t i
        cdef int64_t[::1] t
        cdef int32_t[::1] c
        cdef int64_t[::1] s
        if not len(ok):
            return
        if not by_time:
            t = np.ascontiguousarray(times[ok])
            c = np.ascontiguousarray(codes[ok], dtype=np.int32)
            s = np.ascontiguousarray(snos[ok])
            for i in range(len(ok)):
                self.at_t[c[i]] = t[i]
                self.at_s[c[i]] = <int32_t> s[i]
        order = ok[np.argsort(snos[ok], kind="stable")]
        s_sorted = snos[order]
        bounds = np.flatnonzero(np.diff(s_sorted)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)], strict=True):
            part = order[lo:hi]
            (<Series> self.series[int(s_sorted[lo])]).bulk(times[part], codes[part], vals[part])

    def entries(self):
        return sum((<Series> s).n for s in self.series)

    def nbytes(self):
        """Bytes of the series' entries, the locations and the series table."""
        return (sum((<Series> s).nbytes() for s in self.series) + self.nat * (12 + (4 if self.at_more != NULL else 0))
                + self.p_cap * 16 + self.nsno * 4)


# --------------------------------------------------------------------------------------- Plan

cdef enum:
    PLAIN = 0
    PER_LINE = 1
    DISTINCT = 2


cdef inline bint _null(object v):
    return v is None or (type(v) is float and v != v)


cdef class Plan:
    """How one stream's row is filed, compiled once from the index specs
    (`features.filing.plan_steps`): per index, its key columns, the value column (or none),
    and the rule — plain, per line (once per vendor of `_vendors`) or distinct (the first
    appearance of a value under the key). `file` runs it for a whole event in one call: the
    event's earlier entries (wherever the locations say they are) are dropped, then its new
    ones filed — no per-event note besides the locations."""

    cdef list steps  # (Index, tuple key_cols, value col or None, kind, distinct col or None)
    cdef bint by_time
    cdef StrTable ids

    def __init__(self, list steps):
        self.steps = []
        self.by_time = False
        self.ids = None
        for ix, key_cols, value, kind, distinct in steps:
            self.steps.append((ix, tuple(key_cols), value, int(kind), distinct))
            self.by_time = self.by_time or (<Index> ix).by_time
            if self.ids is not None and self.ids is not (<Index> ix).codes:
                raise ValueError("the indexes of one plan must share one id table (one stream)")
            self.ids = (<Index> ix).codes
        if self.by_time and len(self.steps) > 1:
            raise ValueError("a by-time stream files one index")

    def file(self, str entry_id, dict row, t_ns, list journal=None):
        """File (or re-file) one row: its entries dropped everywhere, then filed at `t_ns`
        (None: only dropped)."""
        cdef Index ix
        cdef tuple step, cols
        cdef int kind
        cdef int32_t code = 0, s, c2
        cdef int64_t t = 0, first = 0
        cdef double v
        cdef object x, value
        cdef str text
        cdef Py_ssize_t j
        cdef list parts
        if not self.by_time:
            code = self.ids.code(entry_id, True)
            for step in self.steps:
                ix = <Index> step[0]
                if <int> step[3] != DISTINCT:
                    ix._drop_all(code, journal)
        if t_ns is None:
            return
        t = t_ns
        for step in self.steps:
            ix = <Index> step[0]
            kind = step[3]
            v = 0.0
            if step[2] is not None:
                x = row.get(step[2])
                v = 0.0 if not x else float(x)
            if kind == PER_LINE:
                x = row.get("_vendors")
                if not x:
                    continue
                for value in x:
                    s = ix._sno_text(value if type(value) is str else str(value), True)
                    ix._put(s, code, t, v, journal)
                continue
            cols = step[1]
            if len(cols) == 1:
                x = row.get(cols[0])
                if _null(x):
                    continue
                text = x if type(x) is str else str(x)
            else:
                parts = []
                for j in range(len(cols)):
                    x = row.get(cols[j])
                    if _null(x):
                        break
                    parts.append(x if type(x) is str else str(x))
                if len(parts) < len(cols):
                    continue
                text = "\x1f".join(parts)
            s = ix._sno_text(text, True)
            if kind == DISTINCT:
                value = row.get(step[4])
                if _null(value):
                    continue
                c2 = ix._code(value if type(value) is str else str(value))
                if not ix._where(s, c2, &first) or t < first:
                    ix._put(s, c2, t, 0.0, journal)
                continue
            ix._put(s, code, t, v, journal)


def windows(dict indexes, list requests, dict aliases=None):
    """`Index.window` for each (index, key, lower, upper) request. `aliases`: index name → the
    summed index holding its entries (read with the total left at 0.0, as a count-only index)."""
    cdef list out = []
    cdef object ix, w, target
    for name, key, lower, upper in requests:
        ix = indexes.get(name)
        if ix is not None:
            out.append((<Index> ix).window(key, lower, upper))
            continue
        target = aliases.get(name) if aliases else None
        ix = indexes.get(target) if target is not None else None
        if ix is None:
            out.append(NONE)
            continue
        w = (<Index> ix).window(key, lower, upper)
        out.append(w if w is NONE else Window(w.count, 0.0, w.last_ns))
    return out
