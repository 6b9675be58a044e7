// Package csvsafe writes CSV that is safe to open in a spreadsheet.
//
// A cell that starts with =, +, -, @, a tab or a carriage return is read by
// Excel, LibreOffice and Google Sheets as a formula (CSV injection, OWASP):
// a subject such as =HYPERLINK("http://…") would become a live link in the
// auditor's spreadsheet. Such cells are written with a leading single quote,
// as OWASP recommends, which spreadsheets display as text. The raw value is
// kept everywhere else (the JSON output, the record, the evidence body).
//
// Every CSV tickmark writes goes through this package.
package csvsafe

import (
	"encoding/csv"
	"io"
)

// Cell returns s neutralised for a spreadsheet: unchanged unless its first
// character starts a formula, then prefixed with a single quote.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// Writer is an encoding/csv writer that neutralises every cell.
type Writer struct {
	*csv.Writer
	rec []string
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{Writer: csv.NewWriter(w)} }

// Write writes one record, each cell neutralised.
func (w *Writer) Write(record []string) error {
	w.rec = w.rec[:0]
	for _, c := range record {
		w.rec = append(w.rec, Cell(c))
	}
	return w.Writer.Write(w.rec)
}

// WriteAll writes records and flushes.
func (w *Writer) WriteAll(records [][]string) error {
	for _, r := range records {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
