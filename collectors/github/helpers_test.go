package github

import (
	"context"
	"io"
	"log/slog"

	"github.com/tickmark-dev/tickmark/collectors"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type nopEmitter struct{}

func (nopEmitter) Emit(_ context.Context, a collectors.Artifact) error {
	if c, ok := a.BodyReader.(io.Closer); ok {
		c.Close()
	}
	return nil
}
func (nopEmitter) Checkpoint(context.Context, string) error { return nil }
