package publog_test

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/publog"
)

func TestNamesRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		want publog.Name
	}{
		{publog.CheckpointPath(510), publog.Name{Kind: publog.Checkpoint, Size: 510}},
		{publog.TokenPath(7), publog.Name{Kind: publog.Token, Size: 7}},
		{publog.KeyPath("ed110e42"), publog.Name{Kind: publog.PublicKey, KeyID: "ed110e42"}},
		{publog.AnnouncementPath("0badf00d"), publog.Name{Kind: publog.Announcement, KeyID: "0badf00d"}},
		{publog.StatePath(time.Date(2026, 3, 14, 9, 26, 53, 5, time.UTC), 340), publog.Name{Kind: publog.State, Size: 340}},
		{publog.TilePath(tlog.Tile{H: 8, L: -1, N: 1234067, W: 84}), publog.Name{Kind: publog.EntryBundle, Tile: tlog.Tile{H: 8, L: -1, N: 1234067, W: 84}}},
		{publog.TilePath(tlog.Tile{H: 8, L: 1, N: 0, W: 256}), publog.Name{Kind: publog.HashTile, Tile: tlog.Tile{H: 8, L: 1, N: 0, W: 256}}},
		{"tile/entries/x001/x234/067.p/84", publog.Name{Kind: publog.EntryBundle, Tile: tlog.Tile{H: 8, L: -1, N: 1234067, W: 84}}},
		{"tile/0/001.p/254", publog.Name{Kind: publog.HashTile, Tile: tlog.Tile{H: 8, L: 0, N: 1, W: 254}}},
		// What no writer produces is Unknown.
		{"checkpoints/0510.note", publog.Name{}},
		{"checkpoints/-1.note", publog.Name{}},
		{"checkpoints/12.txt", publog.Name{}},
		{"keys/.pub", publog.Name{}},
		{"tile/0/1", publog.Name{}},
		{"tile/8/0/000", publog.Name{}},
		{"tile/0/000.p/256", publog.Name{}},
		{"stray.txt", publog.Name{}},
	} {
		if got := publog.Parse(c.name); got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.name, got, c.want)
		}
	}
	if got := publog.TilePath(tlog.Tile{H: 8, L: 0, N: 1, W: 254}); got != "tile/0/001.p/254" {
		t.Errorf("TilePath = %s", got)
	}
	if got := publog.AgentOf("soc2/", "soc2/log/a-1/keys/x.pub"); got != "a-1" {
		t.Errorf("AgentOf = %q", got)
	}
}

func TestWidth(t *testing.T) {
	for _, c := range []struct {
		size  int64
		level int
		n     int64
		want  int
	}{
		{510, -1, 0, 256}, {510, -1, 1, 254}, {510, 0, 1, 254}, {510, 1, 0, 1}, {510, -1, 2, 0},
		{256, 0, 0, 256}, {256, 1, 0, 1}, {65536, 1, 0, 256}, {65537, 2, 0, 1}, {0, 0, 0, 0},
	} {
		if got := publog.Width(c.size, c.level, c.n); got != c.want {
			t.Errorf("Width(%d, %d, %d) = %d, want %d", c.size, c.level, c.n, got, c.want)
		}
	}
	// The widths are those tlog.NewTiles publishes.
	for _, tile := range tlog.NewTiles(publog.TileHeight, 0, 70000) {
		if w := publog.Width(70000, tile.L, tile.N); w != tile.W {
			t.Errorf("tile %+v: Width says %d", tile, w)
		}
	}
}

func TestBundleCodec(t *testing.T) {
	in := [][]byte{[]byte(`{"a":1}`), {}, bytes.Repeat([]byte("x"), 0xffff)}
	b, err := publog.EncodeBundle(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := publog.ParseBundle(b)
	if err != nil || len(out) != 3 || !bytes.Equal(out[2], in[2]) || len(out[1]) != 0 {
		t.Fatalf("round trip: %d entries, %v", len(out), err)
	}
	if _, err := publog.ParseBundle(b[:len(b)-1]); err == nil {
		t.Error("a truncated bundle parsed")
	}
	if _, err := publog.EncodeBundle([][]byte{make([]byte, 0x10000)}); err == nil {
		t.Error("an entry over 64 KiB was encoded")
	}
}

func FuzzParseBundle(f *testing.F) {
	b, _ := publog.EncodeBundle([][]byte{[]byte("a"), []byte(`{"v":1}`), nil})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := publog.ParseBundle(data)
		if err != nil {
			return
		}
		re, err := publog.EncodeBundle(entries)
		if err != nil || !bytes.Equal(re, data) {
			t.Fatalf("bundle does not round-trip")
		}
	})
}
