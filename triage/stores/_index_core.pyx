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

from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memset

import numpy as np
import pandas as pd

from features.online import Window

__all__ = ["Series", "Index", "windows", "NONE"]

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

    def value_of(self, int64_t t, int32_t code):
        """The value of the entry (t, code) (0.0 for a count-only series)."""
        cdef int32_t k = 0, i = 0
        if self._find(t, code, &k, &i) != 0:
            raise KeyError(code)
        return self.b[k].v[i] if self.summed else 0.0

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


cdef class Index:
    """One declared index: its series by key, and where each entry id is filed.

    Ids are coded per stream (the indexes of one stream share one code space: an order id is
    one code for all the order indexes), so the location arrays span only that stream's ids."""

    cdef public list series
    cdef public dict keys
    cdef public dict codes  # entry id → code, shared by the indexes of one stream
    cdef public object at_t_arr, at_s_arr  # the location arrays (numpy), by id code
    cdef int64_t[::1] at_t  # time of its entry (ABSENT: none)
    cdef int32_t[::1] at_s  # series number
    cdef public dict overflow  # (series, code) → time, for an id filed under a 2nd key

    def __init__(self, dict codes):
        self.series = []
        self.keys = {}
        self.codes = codes
        self.overflow = {}
        self._set(np.full(0, ABSENT, dtype=np.int64), np.full(0, -1, dtype=np.int32))

    cdef void _set(self, object t, object s):
        self.at_t_arr, self.at_s_arr = t, s
        self.at_t, self.at_s = t, s

    cpdef grow(self, int64_t n_codes):
        cdef int64_t n = self.at_t.shape[0], more
        if n_codes > n:
            more = max(n_codes, 2 * n, 1024)
            t = np.full(more, ABSENT, dtype=np.int64)
            s = np.full(more, -1, dtype=np.int32)
            t[:n] = self.at_t_arr
            s[:n] = self.at_s_arr
            self._set(t, s)

    cdef inline int32_t _code(self, str entry_id) except -1:
        cdef object c = self.codes.get(entry_id)
        cdef int32_t code
        if c is None:
            code = len(self.codes)
            self.codes[entry_id] = code
        else:
            code = c
        if code >= self.at_t.shape[0]:
            self.grow(len(self.codes))
        return code

    cdef inline int32_t _sno(self, tuple key) except -2:
        cdef object s = self.keys.get(key)
        if s is None:
            s = len(self.series)
            self.keys[key] = s
            self.series.append(Series())
        return s

    cdef inline bint _where(self, int32_t s, int32_t code, int64_t* t):
        cdef object o
        if code < self.at_t.shape[0] and self.at_s[code] == s and self.at_t[code] != ABSENT:
            t[0] = self.at_t[code]
            return True
        if self.overflow:
            o = self.overflow.get((s, code))
            if o is not None:
                t[0] = o
                return True
        return False

    cdef inline void _file(self, int32_t s, int32_t code, int64_t t):
        if self.at_t[code] == ABSENT:
            self.at_t[code] = t
            self.at_s[code] = s
        else:
            self.overflow[(s, code)] = t

    cdef inline void _unfile(self, int32_t s, int32_t code):
        if self.at_s[code] == s and self.at_t[code] != ABSENT:
            self.at_t[code] = ABSENT
            self.at_s[code] = -1
        else:
            self.overflow.pop((s, code), None)

    def put(self, tuple key, str entry_id, int64_t t, double value, bint want_old=False):
        """File `entry_id` under `key` at `t` (replacing its entry there). `want_old`: return
        (series, code, old time or None, old value) — what `restore` needs to undo it."""
        cdef int32_t code = self._code(entry_id)
        cdef int32_t s = self._sno(key)
        cdef Series series = <Series> self.series[s]
        cdef int64_t old = 0
        cdef double old_v = 0.0
        cdef bint had = self._where(s, code, &old)
        if had:
            old_v = series.remove(old, code)
            self._unfile(s, code)
        series.insert(t, code, value)
        self._file(s, code, t)
        if want_old:
            return (s, code, old if had else None, old_v)
        return None

    def drop(self, tuple key, str entry_id, bint want_old=False):
        """Take `entry_id`'s entry under `key` out (if any); `want_old`: as `put` (None: nothing)."""
        cdef object c = self.codes.get(entry_id)
        cdef object so
        cdef int64_t old = 0
        cdef double old_v
        cdef int32_t s, code
        if c is None:
            return None
        so = self.keys.get(key)
        if so is None:
            return None
        s, code = so, c
        if not self._where(s, code, &old):
            return None
        old_v = (<Series> self.series[s]).remove(old, code)
        self._unfile(s, code)
        return (s, code, old, old_v) if want_old else None

    def restore(self, int32_t s, int32_t code, old, double value):
        """Put the entry (s, code) back as `put`/`drop` reported it (old None: it was not there)."""
        cdef Series series = <Series> self.series[s]
        cdef int64_t now = 0
        if self._where(s, code, &now):
            series.remove(now, code)
            self._unfile(s, code)
        if old is not None:
            series.insert(<int64_t> old, code, value)
            self._file(s, code, <int64_t> old)

    def get(self, tuple key, str entry_id):
        cdef object c = self.codes.get(entry_id)
        cdef object so = self.keys.get(key)
        cdef int64_t t = 0
        if c is None or so is None:
            return None
        return t if self._where(<int32_t> so, <int32_t> c, &t) else None

    def window(self, tuple key, lower, int64_t upper):
        cdef object so = self.keys.get(key)
        if so is None:
            return NONE
        return (<Series> self.series[<int32_t> so]).window(lower, upper)

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
        cdef object k, so, low
        cdef Series ser
        cdef int64_t cnt, lt = 0, up
        cdef double tot
        cdef bint has_last = False
        for i in range(n):
            k = keys[i]
            if k is None:
                continue
            so = self.keys.get(k)
            if so is None:
                continue
            ser = <Series> self.series[<int32_t> so]
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

    def put_many(self, list keys, list entry_ids, times_ns, values, put_one):
        """Many `put` calls at once (bootstrap): ids seen for the first time, once each, are filed
        in bulk per series; the others one by one through `put_one(key, entry_id, t, value)`
        (in key, then time order, as `MemoryStore.put_entries`)."""
        code_of = self.codes.get
        table = self.codes
        codes = np.empty(len(entry_ids), dtype=np.int64)
        for i, e in enumerate(entry_ids):
            e = e if type(e) is str else str(e)
            c = code_of(e)
            if c is None:
                c = table[e] = len(table)
            codes[i] = c
        self.grow(len(table))
        at_t, at_s = self.at_t_arr, self.at_s_arr
        times = np.asarray(times_ns, dtype=np.int64)
        vals = np.asarray(values, dtype=np.float64)
        kcodes, uniques = pd.factorize(pd.Series(keys, dtype=object))
        snos = np.array([self._sno(tuple(k)) for k in uniques], dtype=np.int64)[kcodes]
        fresh = (at_t[codes] == ABSENT) & ~pd.Series(codes).duplicated(keep=False).to_numpy()
        if self.overflow:  # an id filed under a second key of this index
            fresh &= np.array([(int(s), int(c)) not in self.overflow for s, c in zip(snos, codes, strict=True)])
        ok = np.flatnonzero(fresh)
        if len(ok):
            at_t[codes[ok]] = times[ok]
            at_s[codes[ok]] = snos[ok]
        slow = np.flatnonzero(~fresh)
        slow = slow[np.lexsort((times[slow], kcodes[slow]))]
        for j in slow:  # already filed in this index, or repeated in the batch: one by one
            put_one(tuple(uniques[kcodes[j]]), str(entry_ids[j]), int(times[j]), float(vals[j]))
        if not len(ok):
            return
        order = ok[np.argsort(snos[ok], kind="stable")]
        s_sorted = snos[order]
        bounds = np.flatnonzero(np.diff(s_sorted)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)], strict=True):
            part = order[lo:hi]
            (<Series> self.series[int(s_sorted[lo])]).bulk(times[part], codes[part], vals[part])

    def entries(self):
        return sum((<Series> s).n for s in self.series)

    def nbytes(self):
        """Bytes of the series' entries and of the location arrays."""
        return sum((<Series> s).nbytes() for s in self.series) + self.at_t.shape[0] * 12


def windows(dict indexes, list requests):
    """`Index.window` for each (index, key, lower, upper) request."""
    cdef list out = []
    cdef object ix
    for name, key, lower, upper in requests:
        ix = indexes.get(name)
        out.append(NONE if ix is None else (<Index> ix).window(key, lower, upper))
    return out
