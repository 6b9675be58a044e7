package checks

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"hash/fnv"
	"io"
	"os"
	"slices"
)

// keyCounter counts distinct item keys in bounded memory: it keeps 64-bit
// hashes of the keys, and when spillAt of them are held, sorts them and
// writes them to a temporary file; count merges the sorted runs. A
// population of any size costs at most spillAt*8 bytes of memory.
type keyCounter struct {
	buf   []uint64
	files []*os.File
	err   error
}

// spillAt is the number of hashes held in memory (512 KiB).
var spillAt = 1 << 16

func newKeyCounter() *keyCounter { return &keyCounter{} }

func hashKey(k string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(k))
	return h.Sum64()
}

func (kc *keyCounter) add(k string) {
	kc.buf = append(kc.buf, hashKey(k))
	if len(kc.buf) >= spillAt && kc.err == nil {
		kc.err = kc.spill()
	}
}

func (kc *keyCounter) spill() error {
	slices.Sort(kc.buf)
	kc.buf = slices.Compact(kc.buf)
	f, err := os.CreateTemp("", "tickmark-checks-keys-*")
	if err != nil {
		return err
	}
	_ = os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 64<<10)
	var b [8]byte
	for _, h := range kc.buf {
		binary.BigEndian.PutUint64(b[:], h)
		if _, err := w.Write(b[:]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	kc.files = append(kc.files, f)
	kc.buf = kc.buf[:0]
	return nil
}

type run struct {
	r   *bufio.Reader
	cur uint64
}

type runHeap []*run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].cur < h[j].cur }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*run)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (r *run) next() bool {
	var b [8]byte
	if _, err := io.ReadFull(r.r, b[:]); err != nil {
		return false
	}
	r.cur = binary.BigEndian.Uint64(b[:])
	return true
}

// count returns the number of distinct keys added.
func (kc *keyCounter) count() (int, error) {
	if kc.err != nil {
		return 0, kc.err
	}
	slices.Sort(kc.buf)
	kc.buf = slices.Compact(kc.buf)
	if len(kc.files) == 0 {
		return len(kc.buf), nil
	}
	h := &runHeap{}
	for _, f := range kc.files {
		r := &run{r: bufio.NewReaderSize(f, 64<<10)}
		if r.next() {
			heap.Push(h, r)
		}
	}
	i := 0 // the in-memory run
	n := 0
	var last uint64
	first := true
	emit := func(v uint64) {
		if first || v != last {
			n++
			last, first = v, false
		}
	}
	for h.Len() > 0 || i < len(kc.buf) {
		if h.Len() == 0 || i < len(kc.buf) && kc.buf[i] <= (*h)[0].cur {
			emit(kc.buf[i])
			i++
			continue
		}
		r := (*h)[0]
		emit(r.cur)
		if r.next() {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return n, nil
}

func (kc *keyCounter) close() {
	for _, f := range kc.files {
		f.Close()
	}
	kc.files = nil
}
