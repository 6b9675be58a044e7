package verify

import "golang.org/x/mod/sumdb/tlog"

// Frontier computes RFC 6962 tree heads incrementally from streamed leaf
// hashes: it keeps the roots of the perfect subtrees along the right edge,
// so memory is O(log n).
type Frontier struct {
	hashes []tlog.Hash
	levels []int
	Size   int64 // leaves added
}

// Add appends a leaf hash; interior, if not nil, is called with every
// complete interior node the leaf closes (level >= 1, index at that
// level, hash), so that stored hashes can be recomputed.
func (f *Frontier) Add(h tlog.Hash, interior func(level int, index int64, h tlog.Hash)) {
	f.hashes = append(f.hashes, h)
	f.levels = append(f.levels, 0)
	for n := len(f.hashes); n >= 2 && f.levels[n-1] == f.levels[n-2]; n = len(f.hashes) {
		merged := tlog.NodeHash(f.hashes[n-2], f.hashes[n-1])
		f.hashes = f.hashes[:n-1]
		f.levels = f.levels[:n-1]
		f.hashes[n-2] = merged
		f.levels[n-2]++
		if interior != nil {
			l := f.levels[n-2]
			interior(l, (f.Size+1)>>l-1, merged)
		}
	}
	f.Size++
}

// Root returns the tree head of the leaves added so far.
func (f *Frontier) Root() tlog.Hash {
	if len(f.hashes) == 0 {
		return tlog.Hash{} // tlog.TreeHash(0) is the zero hash as well
	}
	h := f.hashes[len(f.hashes)-1]
	for i := len(f.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.hashes[i], h)
	}
	return h
}
