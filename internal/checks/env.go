package checks

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
)

// The CEL environment of every expression:
//
//	item      the population item (a map; CSV rows map column to string)
//	params    the check's parameters
//	refs      refs.<name>: a map from key to value (see Ref)
//	now       the evaluation time (recorded in the result)
//	artifact  the item's artifact: type, subject, seq, sha256, collected_at
//
// Functions beyond the CEL standard library and the strings, lists, sets,
// math and two-variable comprehension extensions:
//
//	person(system, x)   the person x is in a system ("github", "jira",
//	                    "aws", "okta"): the email of the identity map entry
//	                    naming x there; x itself, lowercased, when it is an
//	                    email; else "<system>:<x>". x may be a Jira person
//	                    object (its email, account_id or name is used).
//	days(n)             a duration of n days
//	time(x)             a timestamp from an RFC 3339 string
//
// plus regex.extract/extractAll/replace (ext.Regex) and cel.bind (ext.Bindings).
func newEnv(ids *Identities) (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("item", cel.DynType),
		cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("refs", cel.MapType(cel.StringType, cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("now", cel.TimestampType),
		cel.Variable("artifact", cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(), ext.TwoVarComprehensions(), ext.Bindings(), cel.OptionalTypes(), ext.Regex(),
		cel.Function("person",
			cel.Overload("person_string_dyn", []*cel.Type{cel.StringType, cel.DynType}, cel.StringType,
				cel.BinaryBinding(func(sys, x ref.Val) ref.Val {
					s, ok := sys.(types.String)
					if !ok {
						return types.NewErr("person: system must be a string")
					}
					return types.String(ids.Person(string(s), nativeOf(x)))
				}))),
		cel.Function("days",
			cel.Overload("days_int", []*cel.Type{cel.IntType}, cel.DurationType,
				cel.UnaryBinding(func(n ref.Val) ref.Val {
					i, ok := n.(types.Int)
					if !ok {
						return types.NewErr("days: want an int")
					}
					return types.Duration{Duration: time.Duration(i) * 24 * time.Hour}
				})),
			cel.Overload("days_double", []*cel.Type{cel.DoubleType}, cel.DurationType,
				cel.UnaryBinding(func(n ref.Val) ref.Val {
					f, ok := n.(types.Double)
					if !ok {
						return types.NewErr("days: want a number")
					}
					return types.Duration{Duration: time.Duration(float64(f) * 24 * float64(time.Hour))}
				}))),
		cel.Function("time",
			cel.Overload("time_dyn", []*cel.Type{cel.DynType}, cel.TimestampType,
				cel.UnaryBinding(func(x ref.Val) ref.Val {
					switch v := x.(type) {
					case types.Timestamp:
						return v
					case types.String:
						t, err := parseTime(string(v))
						if err != nil {
							return types.NewErr("time: %q is not an RFC 3339 time", string(v))
						}
						return types.Timestamp{Time: t}
					}
					return types.NewErr("time: want a string, got %s", x.Type())
				}))),
	)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// Jira Data Center: 2026-03-01T10:00:00.000+0000
		if t2, err2 := time.Parse("2006-01-02T15:04:05.000-0700", s); err2 == nil {
			return t2.UTC(), nil
		}
		return t, err
	}
	return t.UTC(), nil
}

// nativeOf turns a CEL value back into Go (strings and maps, for person()).
func nativeOf(v ref.Val) any {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case traits.Mapper:
		out := map[string]any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			if ks, ok := k.(types.String); ok {
				if s, ok := x.Get(k).(types.String); ok {
					out[string(ks)] = string(s)
				}
			}
		}
		return out
	}
	return v.Value()
}

// celValue converts a decoded JSON item for CEL: json.Number becomes an
// int (when integral) or a double; maps and lists are converted in place.
func celValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case json.Number, map[string]any, []any, nil:
				x[k] = celValue(e)
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = celValue(e)
		}
		return x
	case nil: // JSON null: CEL's null, so that `item.x == null` works
		return types.NullValue
	}
	return v
}

// lowerTrim normalises an identity.
func lowerTrim(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
