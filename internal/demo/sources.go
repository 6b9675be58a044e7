// Package demo builds the `tickmark demo` workspace: sample sources that
// ship with the project (sample scripts and local fakes of vendor APIs,
// clearly labelled as sample data), a configuration pointing at them, and a
// run of the real engine.
package demo

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Env is what a sample source may use while starting.
type Env struct {
	// Dir is the demo workspace (sample scripts, data, the store).
	Dir string
	// Setenv sets a variable the generated configuration references
	// (env:NAME secrets), in the demo process only.
	Setenv func(key, value string)
	// Fault, if set, registers a way to make the source fail its next
	// request (the sample history plants failed runs with it).
	Fault func(name string, inject func())
}

// Source is one sample source.
type Source struct {
	// Name orders sources and names them in output ("exec", "okta", ...).
	Name string
	// Label says what the sample data is, e.g. "fake Okta org on 127.0.0.1 (sample data)".
	Label string
	// Start starts the source and returns the YAML of its collectors[]
	// entries (a YAML list, at column 0) and a stop function.
	Start func(ctx context.Context, env Env) (collectorsYAML string, stop func(), err error)
}

var (
	mu      sync.Mutex
	sources = map[string]Source{}
)

// Register adds a sample source; a duplicate name panics.
func Register(s Source) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := sources[s.Name]; dup {
		panic(fmt.Sprintf("demo: source %q registered twice", s.Name))
	}
	sources[s.Name] = s
}

// Sources returns the registered sample sources sorted by name.
func Sources() []Source {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Source, 0, len(sources))
	for _, s := range sources {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
