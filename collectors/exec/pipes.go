package exec

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// pipes are the command's stdout and stderr. This process keeps the read
// ends, so it can cut a read that a stray writer would hold open forever.
type pipes struct {
	outR, outW, errR, errW *os.File
	cutOnce                sync.Once
}

func newPipes() (*pipes, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("creating the stderr pipe: %w", err)
	}
	return &pipes{outR: outR, outW: outW, errR: errR, errW: errW}, nil
}

// closeWriters closes this process's copies of the write ends (after the
// command has started with its own).
func (p *pipes) closeWriters() {
	p.outW.Close()
	p.errW.Close()
}

// cut kills every other process still holding a write end of either pipe
// and makes every pending and later read return at once.
func (p *pipes) cut() {
	p.cutOnce.Do(func() {
		killPipeHolders(p.outR, p.errR)
		past := time.Unix(1, 0)
		_ = p.outR.SetReadDeadline(past)
		_ = p.errR.SetReadDeadline(past)
	})
}

func (p *pipes) close() {
	p.outW.Close()
	p.errW.Close()
	p.outR.Close()
	p.errR.Close()
}
