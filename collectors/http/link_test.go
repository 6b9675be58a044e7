package http

import (
	"strings"
	"testing"
)

func TestNextLink(t *testing.T) {
	for _, tc := range []struct {
		header []string
		want   string
	}{
		{[]string{`<https://api.example.com/x?page=2>; rel="next", <https://api.example.com/x?page=9>; rel="last"`}, "https://api.example.com/x?page=2"},
		{[]string{`<https://a/x?page=9>; rel="last", <https://a/x?page=2>; rel="next"`}, "https://a/x?page=2"},
		{[]string{`<https://a/x?page=1>; rel="prev"`, `<https://a/x?page=3>; rel=next`}, "https://a/x?page=3"},
		{[]string{`</x?page=2&q=a,b>; rel="next"`}, "/x?page=2&q=a,b"},                    // a comma inside <...>
		{[]string{`<https://a/x?p=2>; title="a, b"; rel="prev next"`}, "https://a/x?p=2"}, // rel lists several
		{[]string{`<https://a/x?p=2>; REL="Next"`}, "https://a/x?p=2"},
		{[]string{`<https://a/x?p=2>; rel="nextpage"`}, ""},
		{[]string{`https://a/x?p=2; rel="next"`}, ""},
		{[]string{`<https://a/x?p=2; rel="next"`}, ""},
		{nil, ""},
	} {
		if got := nextLink(tc.header); got != tc.want {
			t.Errorf("nextLink(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func FuzzNextLink(f *testing.F) {
	f.Add(`<https://api.example.com/x?page=2>; rel="next", <https://api.example.com/x?page=9>; rel="last"`)
	f.Add(`</x?a=1,2>; title="x, y"; rel="prev next"`)
	f.Add(`<>; rel=next`)
	f.Fuzz(func(t *testing.T, h string) {
		got := nextLink([]string{h})
		if got != "" && !strings.Contains(h, "<"+got+">") {
			t.Fatalf("nextLink(%q) = %q, which is not a <target> of the header", h, got)
		}
	})
}
