package collectors

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ConfigError is one problem in a configuration file, with its line and the
// full path of the key (e.g. "collectors[0].okta.token").
type ConfigError struct {
	Line int
	Key  string
	Msg  string
	Hint string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	return b.String()
}

// ConfigErrors is a list of configuration problems.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// AsConfigErrors flattens err into ConfigErrors if it holds any.
func AsConfigErrors(err error) (ConfigErrors, bool) {
	var es ConfigErrors
	if errors.As(err, &es) {
		return es, true
	}
	var e *ConfigError
	if errors.As(err, &e) {
		return ConfigErrors{e}, true
	}
	return nil, false
}

// Secret is a configuration value that must be given as a reference:
// "env:NAME" (an environment variable) or "file:/path" (a file's contents,
// trailing newline removed). Literals are refused. Its String and
// MarshalYAML/JSON never reveal the value.
type Secret struct {
	ref   string
	value string
}

// NewSecret builds a secret from a reference, resolving it now.
func NewSecret(ref string) (Secret, error) {
	v, err := resolveSecret(ref)
	if err != nil {
		return Secret{}, err
	}
	return Secret{ref: ref, value: v}, nil
}

func resolveSecret(ref string) (string, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		if name == "" {
			return "", errors.New("env: reference names no variable")
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty", name)
		}
		RegisterSecretValue(v)
		return v, nil
	case strings.HasPrefix(ref, "file:"):
		p := strings.TrimPrefix(ref, "file:")
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("reading secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", p)
		}
		RegisterSecretValue(v)
		return v, nil
	default:
		return "", errLiteralSecret
	}
}

var errLiteralSecret = errors.New("secret given as a literal value")

// Value returns the secret's plaintext. Never log it.
func (s Secret) Value() string { return s.value }

// Ref returns the reference ("env:NAME" or "file:/path").
func (s Secret) Ref() string { return s.ref }

// IsSet reports whether a reference was configured.
func (s Secret) IsSet() bool { return s.ref != "" }

// String redacts the value.
func (s Secret) String() string {
	if s.ref == "" {
		return ""
	}
	return s.ref
}

// GoString redacts the value.
func (s Secret) GoString() string { return "collectors.Secret(" + s.ref + ")" }

// MarshalYAML writes the reference, never the value.
func (s Secret) MarshalYAML() (any, error) { return s.ref, nil }

// MarshalJSON writes the reference, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.ref)), nil }

// UnmarshalYAML resolves a reference; a literal is refused.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return &ConfigError{Line: n.Line, Msg: "a secret must be a string reference (env:NAME or file:/path)"}
	}
	v, err := resolveSecret(n.Value)
	if err != nil {
		ce := &ConfigError{Line: n.Line, Msg: err.Error()}
		if errors.Is(err, errLiteralSecret) {
			ce.Msg = "secret given as a literal value; literals are refused so they never land in files, logs or artifacts"
			ce.Hint = "write env:NAME to read an environment variable or file:/path to read a file"
		} else if strings.HasPrefix(n.Value, "env:") {
			ce.Hint = "export the variable in the agent's environment (in Kubernetes, from a Secret)"
		}
		return ce
	}
	s.ref, s.value = n.Value, v
	return nil
}

// Duration is a time.Duration that also accepts days ("90d") and weeks ("2w").
type Duration time.Duration

// ParseDuration parses "90d", "2w", "36h", "5m", "1h30m".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			return Duration(v * float64(u.d)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90d, 12h, 5m)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return Duration(d), nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// UnmarshalYAML parses the duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &ConfigError{Line: n.Line, Msg: "expected a duration such as 90d, 6h or 5m"}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &ConfigError{Line: n.Line, Msg: err.Error()}
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// DecodeStrict decodes a YAML node into v (a pointer to a struct), refusing
// unknown keys. Every problem is reported with its line and the key's full
// path, prefixed by path. Fields are matched by their `yaml` tags.
func DecodeStrict(n *yaml.Node, v any, path string) error {
	var errs ConfigErrors
	w := &walker{errs: &errs, paths: map[int]string{}}
	w.check(n, reflect.TypeOf(v), path)
	// Unknown keys do not stop the decoding: the known ones are decoded and
	// checked too, so one pass reports every problem.
	if err := n.Decode(v); err != nil {
		derr := yamlError(err, n, path, w.paths)
		if ces, ok := AsConfigErrors(derr); ok {
			return sortedErrs(append(errs, ces...))
		}
		if len(errs) > 0 {
			return sortedErrs(append(errs, &ConfigError{Line: n.Line, Key: path, Msg: derr.Error()}))
		}
		return derr
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			if ces, ok := AsConfigErrors(err); ok {
				for _, ce := range ces {
					if ce.Key != "" && path != "" && !strings.HasPrefix(ce.Key, path) {
						ce.Key = path + "." + ce.Key
					} else if ce.Key == "" {
						ce.Key = path
					}
					if ce.Line == 0 {
						ce.Line = n.Line
					}
				}
				return sortedErrs(append(errs, ces...))
			}
			return sortedErrs(append(errs, &ConfigError{Line: n.Line, Key: path, Msg: err.Error()}))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func sortedErrs(errs ConfigErrors) ConfigErrors {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

// FieldLine returns the line of key in a mapping node (or the node's own
// line), for validation errors that name a field.
func FieldLine(n *yaml.Node, key string) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i].Line
			}
		}
	}
	return n.Line
}

func yamlError(err error, n *yaml.Node, path string, paths map[int]string) error {
	keyAt := func(line int) string {
		if k, ok := paths[line]; ok {
			return k
		}
		return path
	}
	if ces, ok := AsConfigErrors(err); ok {
		for _, ce := range ces {
			if ce.Key == "" {
				ce.Key = keyAt(ce.Line)
			}
		}
		return ces
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out ConfigErrors
		for _, m := range te.Errors {
			ce := &ConfigError{Key: path, Msg: m}
			if rest, ok := strings.CutPrefix(m, "line "); ok {
				if i := strings.Index(rest, ": "); i > 0 {
					if l, err := strconv.Atoi(rest[:i]); err == nil {
						ce.Line, ce.Msg, ce.Key = l, rest[i+2:], keyAt(l)
					}
				}
			}
			out = append(out, ce)
		}
		return out
	}
	return ConfigErrors{{Line: n.Line, Key: path, Msg: err.Error()}}
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	nodeType        = reflect.TypeOf(yaml.Node{})
)

// walker checks keys and remembers which key path each line holds, so
// errors from the decoder (which know only a line) can name the key.
type walker struct {
	errs  *ConfigErrors
	paths map[int]string
}

func (w *walker) check(n *yaml.Node, t reflect.Type, path string) {
	checkKnown(n, t, path, w.errs, w.paths)
}

// checkKnown walks n against type t and reports keys that t does not have.
func checkKnown(n *yaml.Node, t reflect.Type, path string, errs *ConfigErrors, paths map[int]string) {
	if n == nil {
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKnown(c, t, path, errs, paths)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		checkKnown(n.Alias, t, path, errs, paths)
		return
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return
		}
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) || t == nodeType {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				checkKnown(v, t, path, errs, paths)
				continue
			}
			paths[k.Line] = join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &ConfigError{Line: k.Line, Key: join(path, k.Value),
					Msg: "unknown key", Hint: "known keys: " + strings.Join(sortedKeys(fields), ", ")})
				continue
			}
			checkKnown(v, ft, join(path, k.Value), errs, paths)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkKnown(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs, paths)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			paths[n.Content[i].Line] = join(path, n.Content[i].Value)
			checkKnown(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs, paths)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// small maps: insertion sort keeps this dependency-free
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Build decodes a type-specific configuration section and builds the
// collector. n may be nil when the section is absent.
func Build(typ string, n *yaml.Node, path string) (Collector, error) {
	d, ok := Lookup(typ)
	if !ok {
		return nil, &ConfigError{Line: lineOf(n), Key: path, Msg: fmt.Sprintf("unknown collector type %q", typ),
			Hint: "run `tickmark collectors list` to see the types this binary has"}
	}
	var cfg any
	if d.NewConfig != nil {
		cfg = d.NewConfig()
		if n == nil {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		if err := DecodeStrict(n, cfg, path+"."+typ); err != nil {
			return nil, err
		}
	}
	c, err := d.New(cfg)
	if err != nil {
		if _, ok := AsConfigErrors(err); ok {
			return nil, err
		}
		return nil, &ConfigError{Line: lineOf(n), Key: path + "." + typ, Msg: err.Error()}
	}
	return c, nil
}

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}
