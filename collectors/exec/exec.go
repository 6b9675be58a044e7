// Package exec is the language-agnostic collector: it runs a command and
// reads newline-delimited JSON artifacts and cursor checkpoints from its
// standard output.
package exec

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

//go:embed sample.yaml
var sampleConfig string

// Version of this collector, recorded in every artifact's source.
const Version = "exec/1"

func init() {
	collectors.Register(collectors.Definition{
		Type:          "exec",
		Summary:       "runs a command that prints evidence as newline-delimited JSON (any language)",
		SampleConfig:  sampleConfig,
		EvidenceTypes: nil, // the command names its own types; map them with collectors[].controls
		NewConfig:     func() any { return &Config{} },
		New: func(cfg any) (collectors.Collector, error) {
			c := &Collector{cfg: *cfg.(*Config)}
			c.registerSecrets()
			return c, nil
		},
	})
}

// Config is the `exec:` section.
type Config struct {
	// Command is the program and its arguments (no shell).
	Command []string `yaml:"command"`
	// Timeout bounds one run of the command (default 5m).
	Timeout collectors.Duration `yaml:"timeout"`
	// Env lists variables passed through from the agent's environment;
	// nothing else is (PATH defaults to /usr/local/bin:/usr/bin:/bin).
	Env []string `yaml:"env"`
	// Dir is the working directory (default: the agent's).
	Dir string `yaml:"dir"`
	// MaxLineBytes bounds one line of output (default 64 MiB).
	MaxLineBytes int `yaml:"max_line_bytes"`
}

// Validate checks the section.
func (c *Config) Validate() error {
	var errs collectors.ConfigErrors
	if len(c.Command) == 0 || c.Command[0] == "" {
		errs = append(errs, &collectors.ConfigError{Key: "command", Msg: "is required: the program and its arguments as a list"})
	} else if err := c.findProgram(); err != nil {
		errs = append(errs, &collectors.ConfigError{Key: "command", Msg: err.Error(),
			Hint: "the image has no shell: ship the program (a static binary, or a script with its interpreter) in a volume or a derived image; see docs/exec-protocol.md"})
	}
	for _, e := range c.Env {
		if e == "" || strings.ContainsAny(e, "= ") {
			errs = append(errs, &collectors.ConfigError{Key: "env", Msg: fmt.Sprintf("%q is not a variable name (list names; values come from the agent's environment)", e)})
		}
	}
	if c.MaxLineBytes < 0 {
		errs = append(errs, &collectors.ConfigError{Key: "max_line_bytes", Msg: "must be positive"})
	}
	if len(errs) > 0 {
		return errs
	}
	if c.Timeout == 0 {
		c.Timeout = collectors.Duration(5 * time.Minute)
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = 64 << 20
	}
	return nil
}

// findProgram checks that the program exists and is executable where the
// agent runs: a name without a slash is looked up in PATH; a relative path is
// relative to dir, as it will be when the command runs.
func (c *Config) findProgram() error {
	prog := c.Command[0]
	if !strings.Contains(prog, "/") {
		if _, err := osexec.LookPath(prog); err != nil {
			return fmt.Errorf("program %q is not in PATH (%s)", prog, os.Getenv("PATH"))
		}
		return nil
	}
	if !filepath.IsAbs(prog) && c.Dir != "" {
		prog = filepath.Join(c.Dir, prog)
	}
	fi, err := os.Stat(prog)
	switch {
	case err != nil:
		return fmt.Errorf("program %s: %v", prog, errors.Unwrap(err))
	case fi.IsDir():
		return fmt.Errorf("program %s is a directory", prog)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("program %s is not executable (chmod +x, or run it through its interpreter: [\"/usr/bin/python3\", %q])", prog, c.Command[0])
	}
	return nil
}

// Collector runs the command.
type Collector struct {
	cfg Config
}

// Collect runs the command once and relays its output.
//
// The run ends by exec.timeout whatever the command's children do. The
// command gets its own process group; stdout and stderr are pipes this
// process owns, so when the deadline passes the group is killed, any process
// still holding one of the pipes (a grandchild that left the group with
// setsid) is killed too, and the reads are cut by a deadline on the pipes:
// nothing waits on an end of file that a stray process could withhold.
func (c *Collector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	p, err := newPipes()
	if err != nil {
		return collectors.Retryable(fmt.Errorf("exec: %w", err))
	}
	defer p.close()
	cmd := osexec.Command(c.cfg.Command[0], c.cfg.Command[1:]...)
	cmd.Dir = c.cfg.Dir
	cmd.Env = c.env(req)
	c.registerSecrets() // the environment may have changed since the start
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = p.outW, p.errW
	if err := cmd.Start(); err != nil {
		return collectors.Permanent(fmt.Errorf("exec: starting %s: %w", c.name(), err))
	}
	p.closeWriters() // the command's copies are the only writers left
	pgid := cmd.Process.Pid
	stderr := &tailBuffer{max: 4096}
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		_, _ = io.Copy(stderr, p.errR)
	}()
	stop := context.AfterFunc(ctx, func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		p.cut() // holders of the pipes are killed, and no read waits any longer
	})
	defer stop()

	readErr := c.relay(ctx, p.outR, emit)
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	if readErr != nil {
		cancel() // stop the command: its output is no longer wanted
	}
	waitErr := cmd.Wait() // returns once the command has exited or been killed
	timedOut = timedOut || errors.Is(ctx.Err(), context.DeadlineExceeded) && readErr == nil
	// A writer that outlives the command (a background child holding stderr)
	// has a moment to finish; then it is cut off.
	select {
	case <-stderrDone:
	case <-time.After(stderrGrace):
		p.cut()
		<-stderrDone
	}
	switch {
	case timedOut:
		return c.ctxError(ctx, context.DeadlineExceeded)
	case readErr != nil:
		if ctx.Err() != nil && errors.Is(readErr, ctx.Err()) {
			return c.ctxError(ctx, readErr)
		}
		return readErr
	case waitErr != nil:
		if ctx.Err() != nil {
			return c.ctxError(ctx, waitErr)
		}
		msg := fmt.Sprintf("exec: %s failed: %v", c.name(), waitErr)
		if t := strings.TrimSpace(stderr.String()); t != "" {
			msg += "; stderr: " + t
		}
		// The variables passed to the command are its credentials: none of
		// them, in any encoding, leaves in the message.
		return collectors.Permanent(errors.New(collectors.SecretRedactor().String(msg)))
	}
	return nil
}

// stderrGrace is how long stderr is read after the command has exited.
const stderrGrace = time.Second

// name is the command for messages: the program and its arguments (an
// interpreter alone, like /bin/sh, would not say which script failed).
func (c *Collector) name() string {
	s := c.cfg.Command[0]
	for _, a := range c.cfg.Command[1:] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if !strings.ContainsAny(a, "\n ") && len(a) <= 160 {
			s += " " + a // the script an interpreter runs
		}
		break
	}
	return s
}

func (c *Collector) ctxError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return collectors.Retryable(fmt.Errorf("exec: %s did not finish within %s (exec.timeout)", c.name(), c.cfg.Timeout))
	}
	return ctx.Err()
}

func (c *Collector) relay(ctx context.Context, r io.Reader, emit collectors.Emitter) error {
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			if len(long) > c.cfg.MaxLineBytes {
				return collectors.Permanent(fmt.Errorf("exec: output line %d is longer than %d bytes (exec.max_line_bytes)", lineNo+1, c.cfg.MaxLineBytes))
			}
			continue
		}
		if err != nil && err != io.EOF || err == io.EOF && ctx.Err() != nil {
			// Cut off (the deadline, or the command was killed) in the
			// middle of a line: that is the timeout, not a malformed line.
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
				return context.Canceled
			}
			return collectors.Retryable(fmt.Errorf("exec: reading output: %w", err))
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			lineNo++
			if len(line) > c.cfg.MaxLineBytes {
				return collectors.Permanent(fmt.Errorf("exec: output line %d is longer than %d bytes (exec.max_line_bytes)", lineNo, c.cfg.MaxLineBytes))
			}
			l, perr := ParseLine(line)
			if perr != nil {
				return collectors.Permanent(fmt.Errorf("exec: output line %d: %v", lineNo, perr))
			}
			if l.Cursor != nil {
				if err := emit.Checkpoint(ctx, *l.Cursor); err != nil {
					return err
				}
			} else {
				a := *l.Artifact
				if a.Source.Endpoint == "" {
					a.Source.Endpoint = strings.Join(c.cfg.Command, " ")
				}
				if a.Source.System == "" {
					a.Source.System = "exec"
				}
				if a.Source.CollectorVersion == "" {
					a.Source.CollectorVersion = Version
				}
				if err := emit.Emit(ctx, a); err != nil {
					return err
				}
			}
		} else {
			lineNo++
		}
		if err == io.EOF {
			return nil
		}
	}
}

// registerSecrets marks the values of the variables passed to the command
// (other than PATH) as secrets: they are its credentials.
func (c *Collector) registerSecrets() {
	for _, name := range c.cfg.Env {
		if v, ok := os.LookupEnv(name); ok && name != "PATH" {
			collectors.RegisterSecretValue(v)
		}
	}
}

func (c *Collector) env(req collectors.Request) []string {
	env := []string{
		"TICKMARK_CURSOR=" + req.Cursor,
		"TICKMARK_SINCE=" + req.Since.UTC().Format(time.RFC3339),
		"TICKMARK_NOW=" + req.Now.UTC().Format(time.RFC3339),
		"TICKMARK_RUN_ID=" + req.RunID,
		"TICKMARK_INSTANCE=" + req.Instance,
	}
	hasPath := false
	for _, name := range c.cfg.Env {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
			hasPath = hasPath || name == "PATH"
		}
	}
	if !hasPath {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return env
}

// tailBuffer keeps the last max bytes written (stderr for error messages).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
		t.cut = true
	}
	return len(p), nil
}

// String returns the tail. When earlier output was dropped, the tail starts
// at a line break (or, without one, 512 bytes in), so that no fragment of a
// secret cut in half by the drop is left where the redactor cannot know it.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b
	if t.cut {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		} else {
			b = b[min(len(b), 512):]
		}
	}
	return string(b)
}
